"""Usage accounting: one state machine, written once in Python and once in Lua for Redis.

A minor's state is a flat map of strings (a Redis hash; JSON in SQLite; a dict in memory)::

    day      local day the figures are for (YYYY-MM-DD)
    used     seconds of use charged on ``day``
    last     the instant (UTC epoch seconds) up to which use has been charged
    streak   seconds of continuous use (reset by an idle gap of rest_break or more)
    rl       rest reminders already given in this streak
    idle     when the last in-flight call ended
    glimit   a guardian's daily limit in seconds (optional); it replaces the policy's limit
             but never exceeds the ceiling passed with the operation (MM-adjust)
    xfrom    a guardian's exemption starts at this instant (optional, with ``xuntil``)
    xpurpose what the exemption is for (the guardian's words, e.g. "study")
    xuntil   ... and ends at this instant: while it runs the quota and the guardian's windows
             do not refuse (use is still charged), nor the curfew when ``xcurfew`` is "1"
             (MM-exempt); an exemption that has ended is removed by the next operation
    pause    paused until this instant (optional)
    win      guardian's allowed windows, "a-b,c-d" in local seconds of day (optional)
    c:<id>   one in-flight call: when it was last heard of (started or renewed)
    h:<day>  seconds used on an earlier day

Time is charged as the *union* of the intervals in which at least one call of the minor was
in flight: while calls run, use accrues at one second per second, whatever their number. A
minor is one person; two tabs open at once do not make the day pass twice as fast. It is also
what keeps the limit across replicas: a call is admitted only while ``used < limit``, and
after that instant use accrues only until the calls already admitted end, so the total
never exceeds the limit by more than the longest call (IM-10, MM-final).

The Python function :func:`apply` and :data:`LUA` take the same arguments and return the same
strings (both print numbers with ``%.17g``), which the tests check on random histories.

Arguments (``argv``): op, call id, t, day, day_start, lease, history cutoff day, ttl ms,
x (seconds of day for ``start``; for ``end`` when the call was last renewed), limit, curfew (0/1),
rest break, reminder interval and (optional) the ceiling a guardian's limit is held to
(default: the limit). ``control`` takes field/value pairs ("" deletes) instead.

Replies (but ``control``'s and ``snapshot``'s): code, used, limit ("" for none), streak,
reminder due (0/1), calls in flight, pause, windows, day, reminders given (``rl``), and the
instant use is charged up to (``last``) — from which a release can be told without asking
the store again (:meth:`MinorProtection.release` with ``wait=False``) — and the exemption in
force (``xfrom``, ``xuntil``, ``xcurfew``, ``xpurpose``; empty when none).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence

__all__ = ["CODES", "LUA", "apply", "fmt", "in_windows", "pack", "unpack"]

#: start codes
OK, PAUSED, CURFEW, WINDOW, QUOTA = 0, 1, 2, 3, 4
CODES = {OK: "ok", PAUSED: "paused", CURFEW: "curfew", WINDOW: "window", QUOTA: "quota"}
CONTROL_FIELDS = ("glimit", "pause", "win", "xfrom", "xuntil", "xcurfew", "xpurpose")
EXEMPTION_FIELDS = ("xfrom", "xuntil", "xcurfew", "xpurpose")


def fmt(x: float) -> str:
    """Numbers as both Python and Lua print them (exact round trip)."""
    return f"{x:.17g}"


def pack(argv: Sequence[str]) -> str:
    """The arguments as :data:`LUA` takes them: one string, fields joined by ``|`` (one
    value to encode and send instead of thirteen)."""
    return "|".join(argv)


def unpack(reply: object) -> list[str]:
    """:data:`LUA`'s reply as :func:`apply` returns it: ``snapshot`` replies with the hash
    (a list), every other operation with one ``|``-joined string."""
    if isinstance(reply, list):
        return [v.decode() if isinstance(v, bytes) else str(v) for v in reply]
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return text.split("|")


def in_windows(win: str, sod: float) -> bool:
    """Whether local second-of-day ``sod`` is in one of the ``"a-b,c-d"`` windows."""
    for part in win.split(","):
        if "-" not in part:
            continue
        a_text, b_text = part.split("-", 1)
        a, b = float(a_text), float(b_text)
        if a <= b:
            if a <= sod < b:
                return True
        elif sod >= a or sod < b:
            return True
    return False


def apply(s: MutableMapping[str, str], argv: Sequence[str]) -> list[str]:
    """Run one operation on state ``s`` (changed in place); returns what :data:`LUA` returns."""
    op = argv[0]
    if op == "control":
        for i in range(1, len(argv) - 1, 2):
            field, value = argv[i], argv[i + 1]
            if value == "":
                s.pop(field, None)
            else:
                s[field] = value
        return ["0"]
    cid = argv[1]
    t = float(argv[2])
    day = argv[3]
    day_start = float(argv[4])
    lease = float(argv[5])
    cutoff = argv[6]
    if "day" not in s:
        sday, used, last, streak, rl = day, 0.0, t, 0.0, 0
        idle: float | None = None
    else:
        sday, used, last = s["day"], float(s["used"]), float(s["last"])
        streak, rl = float(s["streak"]), int(s["rl"])
        idle = float(s["idle"]) if "idle" in s else None
    calls = [f for f in s if f.startswith("c:")]
    n = len(calls)

    def accrue(x: float) -> None:
        nonlocal used, streak, last
        if x > last:
            if n > 0:
                used += x - last
                streak += x - last
            last = x

    def roll() -> None:
        nonlocal used, sday
        accrue(day_start)
        for f in [f for f in s if f.startswith("h:") and f[2:] < cutoff]:
            del s[f]
        if sday >= cutoff:
            s["h:" + sday] = fmt(used)
        used = 0.0
        sday = day

    expired = sorted((float(s[f]) + lease, f) for f in calls if float(s[f]) + lease <= t)
    pending = sday < day
    for e, f in expired:
        if pending and e >= day_start:
            roll()
            pending = False
        accrue(e)
        del s[f]
        n -= 1
        if n == 0:
            idle = e
    if pending:
        roll()
    accrue(t)

    limit = float(argv[9]) if len(argv) > 9 else math.inf
    if "glimit" in s:
        ceiling = float(argv[13]) if len(argv) > 13 else limit
        limit = min(float(s["glimit"]), ceiling)
    if "xuntil" in s and float(s["xuntil"]) <= t:
        for f in EXEMPTION_FIELDS:
            s.pop(f, None)
    exempt = "xuntil" in s and "xfrom" in s and float(s["xfrom"]) <= t
    exempt_curfew = exempt and s.get("xcurfew") == "1"
    remind_every = float(argv[12]) if len(argv) > 12 else 0.0
    code = OK
    remind = 0
    key = "c:" + cid
    if op == "start":
        sod = float(argv[8])
        if "pause" in s and float(s["pause"]) > t:
            code = PAUSED
        elif argv[10] == "1" and not exempt_curfew:
            code = CURFEW
        elif "win" in s and not exempt and not in_windows(s["win"], sod):
            code = WINDOW
        elif used >= limit and not exempt:
            code = QUOTA
        else:
            if n == 0 and (idle is None or t - idle >= float(argv[11])):
                streak, rl = 0.0, 0
            s[key] = fmt(t)
            n += 1
    elif op == "end":
        if key in s:
            del s[key]
            n -= 1
            if n == 0:
                idle = t
        elif n == 0:  # expired while running: charge what the lease did not cover
            base = float(argv[8]) + lease
            if idle is not None and idle > base:
                base = idle
            extra = t - base
            if extra > 0:
                used += extra
                streak += extra
            idle = t
    elif op == "beat" and key in s:
        s[key] = fmt(t)
    if op in ("start", "end") and code == OK and remind_every > 0:
        level = math.floor(streak / remind_every)
        if level > rl:
            remind, rl = 1, level
    s["day"], s["used"], s["last"] = sday, fmt(used), fmt(last)
    s["streak"], s["rl"] = fmt(streak), str(rl)
    if idle is not None:
        s["idle"] = fmt(idle)
    if op == "snapshot":
        out: list[str] = []
        for f, v in s.items():
            out += [f, v]
        return out
    return [str(code), fmt(used), fmt(limit) if limit != math.inf else "", fmt(streak),
            str(remind), str(n), s.get("pause", ""), s.get("win", ""), sday, str(rl), fmt(last),
            s.get("xfrom", ""), s.get("xuntil", ""), s.get("xcurfew", ""), s.get("xpurpose", "")]


LUA = r"""
local key = KEYS[1]
local A = {}
for f in string.gmatch(ARGV[1] .. '|', '([^|]*)|') do A[#A + 1] = f end
local op = A[1]
local function fmt(x) return string.format('%.17g', x) end
if op == 'control' then
  for i = 2, #A - 1, 2 do
    if A[i + 1] == '' then redis.call('HDEL', key, A[i])
    else redis.call('HSET', key, A[i], A[i + 1]) end
  end
  return '0'
end
local cid = A[2]
local t = tonumber(A[3])
local day = A[4]
local day_start = tonumber(A[5])
local lease = tonumber(A[6])
local cutoff = A[7]
local ttl = tonumber(A[8])
local raw = redis.call('HGETALL', key)
local s = {}
for i = 1, #raw, 2 do s[raw[i]] = raw[i + 1] end
local sday, used, last, streak, rl, idle
if s['day'] == nil then
  sday = day; used = 0; last = t; streak = 0; rl = 0; idle = nil
else
  sday = s['day']; used = tonumber(s['used']); last = tonumber(s['last'])
  streak = tonumber(s['streak']); rl = tonumber(s['rl'])
  if s['idle'] then idle = tonumber(s['idle']) else idle = nil end
end
local n = 0
local calls = {}
for f, v in pairs(s) do
  if string.sub(f, 1, 2) == 'c:' then n = n + 1; table.insert(calls, f) end
end
local function accrue(x)
  if x > last then
    if n > 0 then used = used + (x - last); streak = streak + (x - last) end
    last = x
  end
end
local function roll()
  accrue(day_start)
  for f, v in pairs(s) do
    if string.sub(f, 1, 2) == 'h:' and string.sub(f, 3) < cutoff then
      redis.call('HDEL', key, f); s[f] = nil
    end
  end
  if sday >= cutoff then
    redis.call('HSET', key, 'h:' .. sday, fmt(used)); s['h:' .. sday] = fmt(used)
  end
  used = 0
  sday = day
end
local expired = {}
for _, f in ipairs(calls) do
  local e = tonumber(s[f]) + lease
  if e <= t then table.insert(expired, {e, f}) end
end
table.sort(expired, function(a, b)
  if a[1] == b[1] then return a[2] < b[2] end
  return a[1] < b[1]
end)
local pending = sday < day
for _, item in ipairs(expired) do
  if pending and item[1] >= day_start then roll(); pending = false end
  accrue(item[1])
  redis.call('HDEL', key, item[2]); s[item[2]] = nil
  n = n - 1
  if n == 0 then idle = item[1] end
end
if pending then roll() end
accrue(t)
local limit = nil
if #A >= 10 then limit = tonumber(A[10]) end
if s['glimit'] then
  local g = tonumber(s['glimit'])
  local ceiling = limit
  if #A >= 14 then ceiling = tonumber(A[14]) end
  if ceiling == nil or g < ceiling then limit = g else limit = ceiling end
end
if s['xuntil'] and tonumber(s['xuntil']) <= t then
  redis.call('HDEL', key, 'xfrom', 'xuntil', 'xcurfew', 'xpurpose')
  s['xfrom'] = nil; s['xuntil'] = nil; s['xcurfew'] = nil; s['xpurpose'] = nil
end
local exempt = s['xuntil'] ~= nil and s['xfrom'] ~= nil and tonumber(s['xfrom']) <= t
local exempt_curfew = exempt and s['xcurfew'] == '1'
local remind_every = 0
if #A >= 13 then remind_every = tonumber(A[13]) end
local code = 0
local remind = 0
local ck = 'c:' .. cid
if op == 'start' then
  local sod = tonumber(A[9])
  local inwin = true
  if s['win'] then
    inwin = false
    for a, b in string.gmatch(s['win'], '([%d%.]+)-([%d%.]+)') do
      a = tonumber(a); b = tonumber(b)
      if a <= b then
        if sod >= a and sod < b then inwin = true end
      else
        if sod >= a or sod < b then inwin = true end
      end
    end
  end
  if s['pause'] and tonumber(s['pause']) > t then code = 1
  elseif A[11] == '1' and not exempt_curfew then code = 2
  elseif not inwin and not exempt then code = 3
  elseif limit ~= nil and used >= limit and not exempt then code = 4
  else
    if n == 0 and (idle == nil or t - idle >= tonumber(A[12])) then streak = 0; rl = 0 end
    redis.call('HSET', key, ck, fmt(t)); s[ck] = fmt(t)
    n = n + 1
  end
elseif op == 'end' then
  if s[ck] then
    redis.call('HDEL', key, ck); s[ck] = nil
    n = n - 1
    if n == 0 then idle = t end
  elseif n == 0 then
    local base = tonumber(A[9]) + lease
    if idle ~= nil and idle > base then base = idle end
    local extra = t - base
    if extra > 0 then used = used + extra; streak = streak + extra end
    idle = t
  end
elseif op == 'beat' then
  if s[ck] then redis.call('HSET', key, ck, fmt(t)); s[ck] = fmt(t) end
end
if (op == 'start' or op == 'end') and code == 0 and remind_every > 0 then
  local level = math.floor(streak / remind_every)
  if level > rl then remind = 1; rl = level end
end
redis.call('HSET', key, 'day', sday, 'used', fmt(used), 'last', fmt(last),
           'streak', fmt(streak), 'rl', string.format('%d', rl))
if idle ~= nil then redis.call('HSET', key, 'idle', fmt(idle)) end
if ttl and ttl > 0 then redis.call('PEXPIRE', key, ttl) end
if op == 'snapshot' then return redis.call('HGETALL', key) end
local lim = ''
if limit ~= nil then lim = fmt(limit) end
return table.concat({tostring(code), fmt(used), lim, fmt(streak), tostring(remind),
                     tostring(n), s['pause'] or '', s['win'] or '', sday,
                     string.format('%d', rl), fmt(last), s['xfrom'] or '',
                     s['xuntil'] or '', s['xcurfew'] or '', s['xpurpose'] or ''}, '|')
"""
