"""Usage accounting: one state machine, written once in Python and once in Lua for Redis.

A minor's state is a flat map of strings (one string on Redis, see below; JSON in SQLite;
a dict in memory)::

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
    e:<id>   that call ended: "t,x" (when, and when it was last heard of), not yet charged;
             the next operation on the state (any but ``control``) charges it first, as an
             ``end`` at ``t`` would have (``fin``, below)
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

``fin`` (call id, t, x, ttl ms) is ``end`` deferred: it only notes the end (``e:<id>``) and
replies ``0``; what ``end`` would have charged is charged by the next operation, before its
own, in time order with the leases that ran out — the state comes out the same as with the
``end`` in its place, which the tests check, for an end on the state's day (an ``end`` on a
later day would first close the day; a release told from its admission never is one). It is
how a release rides with the next call on Redis at the cost of one append (the next
operation reads the state anyway).

On Redis the state is one string (``field|value|field|value|…|``: no field or value holds a
``|``), read with one ``GET`` and written with one ``SET … PX ttl``, so it expires ``ttl`` ms
after its last operation; the days of history ride in one field (``h``,
``"day=seconds,…"``), which only a day's roll reads; :func:`state_of` reads it back as the
map above. A ``fin`` only appends its field (``APPEND``: the state is not read), and one
script run takes several operations (``KEYS[i]``/``ARGV[i]``, every one but the last a
``fin``): the ends waiting in the store's outbox leave with the next call in one run, those
of the same state joined to what it reads. A state kept as a hash by an earlier version is
rewritten as a string by the first operation on it.

Replies (but ``control``'s and ``snapshot``'s): code, used, limit ("" for none), streak,
reminder due (0/1), calls in flight, pause, windows, day, reminders given (``rl``), and the
instant use is charged up to (``last``) — from which a release can be told without asking
the store again (:meth:`MinorProtection.release` with ``wait=False``) — and the exemption in
force (``xfrom``, ``xuntil``, ``xcurfew``, ``xpurpose``; empty when none).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence

__all__ = ["CODES", "LUA", "apply", "fmt", "in_windows", "pack", "state_of", "unpack"]

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
    """:data:`LUA`'s reply as :func:`apply` returns it: ``snapshot`` replies with the state
    (a list), every other operation with one ``|``-joined string."""
    if isinstance(reply, list):
        return [v.decode() if isinstance(v, bytes) else str(v) for v in reply]
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return text.split("|")


def state_of(raw: bytes | str | None) -> dict[str, str]:
    """A state as :data:`LUA` stores it on Redis (one string), read back as the map
    :func:`apply` keeps (``h:<day>`` fields for the history)."""
    if raw is None:
        return {}
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split("|")
    state: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        field, value = parts[i], parts[i + 1]
        if field == "h":
            for item in value.split(","):
                day, _, used = item.partition("=")
                state["h:" + day] = used
        else:
            state[field] = value
    return state


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
    if op == "fin":
        s["e:" + argv[1]] = argv[2] + "," + argv[3]
        return ["0"]
    cid = argv[1]
    ts = argv[2]
    t = float(ts)
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
    calls: list[str] = []
    marks: list[tuple[str, str]] = []
    for f, v in s.items():  # one pass: the calls in flight and those noted ended
        if f[1:2] == ":":
            if f[0] == "c":
                calls.append(f)
            elif f[0] == "e":
                marks.append((f, v))
    n = len(calls)
    remind_every = float(argv[12]) if len(argv) > 12 else 0.0

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

    def finish(key: str, at: float, seen: float) -> None:
        """What ``end`` does at ``at`` once use is charged up to it."""
        nonlocal n, idle, used, streak, rl
        if key in s:
            del s[key]
            n -= 1
            if n == 0:
                idle = at
        elif n == 0:  # expired while running: charge what the lease did not cover
            base = seen + lease
            if idle is not None and idle > base:
                base = idle
            extra = at - base
            if extra > 0:
                used += extra
                streak += extra
            idle = at

    # the calls noted ended (``fin``) and the leases that ran out, in time order; a noted
    # end later than ``t`` (another replica's clock) also lets the leases run out until it
    events = []
    horizon = t
    for f, v in marks:
        at_text, seen_text = v.split(",", 1)
        events.append((float(at_text), f, float(seen_text)))
        horizon = max(horizon, float(at_text))
    events += [(float(s[f]) + lease, f, 0.0) for f in calls if float(s[f]) + lease <= horizon]
    if len(events) > 1:
        events.sort(key=lambda e: (e[0], e[1]))
    pending = sday < day
    for e, f, seen in events:
        if f.startswith("c:") and f not in s:
            continue  # its noted end came first
        if pending and e >= day_start:
            roll()
            pending = False
        accrue(e)
        del s[f]
        if f.startswith("e:"):  # as ``end`` at e: the call ends, a reminder level is taken
            finish("c:" + f[2:], e, seen)
            if remind_every > 0:
                rl = max(rl, math.floor(streak / remind_every))
        else:  # the lease ran out
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
    if "xuntil" in s and float(s["xuntil"]) <= horizon:  # (as a noted end would have)
        for f in EXEMPTION_FIELDS:
            s.pop(f, None)
    exempt = "xuntil" in s and "xfrom" in s and float(s["xfrom"]) <= t
    exempt_curfew = exempt and s.get("xcurfew") == "1"
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
            s[key] = ts
            n += 1
    elif op == "end":
        finish(key, t, float(argv[8]))
    elif op == "beat" and key in s:
        s[key] = ts
    if op in ("start", "end") and code == OK and remind_every > 0:
        level = math.floor(streak / remind_every)
        if level > rl:
            remind, rl = 1, level
    last_text = ts if last == t else fmt(last)
    s["day"], s["used"], s["last"] = sday, fmt(used), last_text
    s["streak"], s["rl"] = fmt(streak), str(rl)
    if idle is not None:
        s["idle"] = ts if idle == t else fmt(idle)
    if op == "snapshot":
        out: list[str] = []
        for f, v in s.items():
            out += [f, v]
        return out
    return [str(code), s["used"], fmt(limit) if limit != math.inf else "", s["streak"],
            str(remind), str(n), s.get("pause", ""), s.get("win", ""), sday, str(rl), last_text,
            s.get("xfrom", ""), s.get("xuntil", ""), s.get("xcurfew", ""), s.get("xpurpose", "")]


LUA = r"""
-- Operations in pairs KEYS[i] / ARGV[i], run in order; the reply is the last one's. Only
-- ``fin`` may come before the last (the ends a store's outbox held, sent with its next call).
-- A state is one string: field|value|field|value|... (no field or value holds '|'); the
-- days of history (h:<day>) ride in one field, h = "day=seconds,...", read only at a roll.
local nops = #KEYS
local key = KEYS[nops]
local last_op = string.sub(ARGV[nops], 1, 4)
local fmt_ = '%.17g'
local function fmt(x) return string.format(fmt_, x) end

-- a state kept as a hash (before this format) is rewritten as a string first
local function parse(raw, s)
  for f, v in string.gmatch(raw, '([^|]*)|([^|]*)|') do s[f] = v end
  return s
end
local function text(s)
  local out, i = {}, 0
  for f, v in pairs(s) do out[i + 1] = f; out[i + 2] = v; i = i + 2 end
  if i == 0 then return nil end
  return table.concat(out, '|') .. '|'
end
local function from_hash(k)
  local raw = redis.call('HGETALL', k)
  local s, hist = {}, {}
  for i = 1, #raw, 2 do
    local f, v = raw[i], raw[i + 1]
    if string.sub(f, 1, 2) == 'h:' then hist[#hist + 1] = string.sub(f, 3) .. '=' .. v
    else s[f] = v end
  end
  if #hist > 0 then s['h'] = table.concat(hist, ',') end
  local ttl = redis.call('PTTL', k)
  redis.call('DEL', k)
  local t = text(s)
  if t then
    if ttl > 0 then redis.call('SET', k, t, 'PX', ttl) else redis.call('SET', k, t) end
  end
  return t or ''
end
local function read(k)
  local raw = redis.pcall('GET', k)
  if type(raw) == 'table' and raw.err then return from_hash(k) end
  return raw or ''
end

-- the noted ends: appended to their state (``APPEND``: the state is not read), those of the
-- last operation's state joined to what it reads instead
local extra = ''
for i = 1, nops - 1 + ((last_op == 'fin|') and 1 or 0) do
  local a = ARGV[i]
  local fcid, fts, fx, fttl_s = string.match(a, '^fin|(.*)|([^|]*)|([^|]*)|([^|]*)$')
  if not fcid then return redis.error_reply('ERR only fin operations may precede another') end
  local entry = 'e:' .. fcid .. '|' .. fts .. ',' .. fx .. '|'
  local k = KEYS[i]
  if k == key and last_op ~= 'fin|' then
    extra = extra .. entry
  else
    local len = redis.pcall('APPEND', k, entry)
    if type(len) == 'table' then
      from_hash(k)
      len = redis.call('APPEND', k, entry)
    end
    if len == #entry then  -- a new state: keep it as long as a state is kept
      local ttl = tonumber(fttl_s)
      if ttl and ttl > 0 then redis.call('PEXPIRE', k, ttl) end
    end
  end
end
if last_op == 'fin|' then return '0' end

local A = {}
for f in string.gmatch(ARGV[nops] .. '|', '([^|]*)|') do A[#A + 1] = f end
local op = A[1]
local s = parse(read(key) .. extra, {})
if op == 'control' then
  for i = 2, #A - 1, 2 do
    if A[i + 1] == '' then s[A[i]] = nil else s[A[i]] = A[i + 1] end
  end
  local t = text(s)
  if t then redis.call('SET', key, t, 'KEEPTTL') else redis.call('DEL', key) end
  return '0'
end
local cid = A[2]
local ts = A[3]
local t = tonumber(ts)
local day = A[4]
local day_start = tonumber(A[5])
local lease = tonumber(A[6])
local cutoff = A[7]
local ttl = A[8]
local remind_every = 0
if #A >= 13 then remind_every = tonumber(A[13]) end
local calls = {}
local events = {}
local horizon = t
local n = 0
for f, v in pairs(s) do
  local c1, c2 = string.byte(f, 1, 2)
  if c2 == 58 then  -- 'c:' a call in flight, 'e:' a call noted ended
    if c1 == 99 then n = n + 1; calls[n] = f
    elseif c1 == 101 then
      local at_text, seen_text = string.match(v, '^([^,]*),(.*)$')
      local at = tonumber(at_text)
      events[#events + 1] = {at, f, tonumber(seen_text)}
      if at > horizon then horizon = at end
    end
  end
end
local sday, used, last, streak, rl, idle
if s['day'] == nil then
  sday = day; used = 0; last = t; streak = 0; rl = 0; idle = nil
else
  sday = s['day']; used = tonumber(s['used']); last = tonumber(s['last'])
  streak = tonumber(s['streak']); rl = tonumber(s['rl'])
  if s['idle'] then idle = tonumber(s['idle']) else idle = nil end
end
local function accrue(x)
  if x > last then
    if n > 0 then used = used + (x - last); streak = streak + (x - last) end
    last = x
  end
end
local function roll()
  accrue(day_start)
  local hist = {}
  if s['h'] then
    for d, v in string.gmatch(s['h'], '([^=,]*)=([^,]*)') do
      if d >= cutoff and d ~= sday then hist[#hist + 1] = d .. '=' .. v end
    end
  end
  if sday >= cutoff then hist[#hist + 1] = sday .. '=' .. fmt(used) end
  if #hist > 0 then s['h'] = table.concat(hist, ',') else s['h'] = nil end
  used = 0
  sday = day
end
local function finish(ck, at, seen)
  if s[ck] then
    s[ck] = nil
    n = n - 1
    if n == 0 then idle = at end
  elseif n == 0 then
    local base = seen + lease
    if idle ~= nil and idle > base then base = idle end
    local extra_ = at - base
    if extra_ > 0 then used = used + extra_; streak = streak + extra_ end
    idle = at
  end
end
for i = 1, n do
  local f = calls[i]
  local e = tonumber(s[f]) + lease
  if e <= horizon then events[#events + 1] = {e, f, 0} end
end
if #events > 1 then
  table.sort(events, function(a, b)
    if a[1] == b[1] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
end
local pending = sday < day
for _, item in ipairs(events) do
  local e, f = item[1], item[2]
  local mark = string.byte(f, 1) == 101
  if mark or s[f] ~= nil then
    if pending and e >= day_start then roll(); pending = false end
    accrue(e)
    s[f] = nil
    if mark then
      finish('c:' .. string.sub(f, 3), e, item[3])
      if remind_every > 0 then
        local level = math.floor(streak / remind_every)
        if level > rl then rl = level end
      end
    else
      n = n - 1
      if n == 0 then idle = e end
    end
  end
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
if s['xuntil'] and tonumber(s['xuntil']) <= horizon then
  s['xfrom'] = nil; s['xuntil'] = nil; s['xcurfew'] = nil; s['xpurpose'] = nil
end
local exempt = s['xuntil'] ~= nil and s['xfrom'] ~= nil and tonumber(s['xfrom']) <= t
local exempt_curfew = exempt and s['xcurfew'] == '1'
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
    s[ck] = ts
    n = n + 1
  end
elseif op == 'end' then
  finish(ck, t, tonumber(A[9]))
elseif op == 'beat' then
  if s[ck] then s[ck] = ts end
end
if (op == 'start' or op == 'end') and code == 0 and remind_every > 0 then
  local level = math.floor(streak / remind_every)
  if level > rl then remind = 1; rl = level end
end
local used_s, streak_s, rl_s = fmt(used), fmt(streak), string.format('%d', rl)
local last_s = ts
if last ~= t then last_s = fmt(last) end
s['day'] = sday; s['used'] = used_s; s['last'] = last_s; s['streak'] = streak_s; s['rl'] = rl_s
if idle ~= nil then
  if idle == t then s['idle'] = ts else s['idle'] = fmt(idle) end
end
redis.call('SET', key, text(s), 'PX', ttl)
if op == 'snapshot' then
  local out, i = {}, 0
  for f, v in pairs(s) do
    if f == 'h' then
      for d, u in string.gmatch(v, '([^=,]*)=([^,]*)') do
        out[i + 1] = 'h:' .. d; out[i + 2] = u; i = i + 2
      end
    else
      out[i + 1] = f; out[i + 2] = v; i = i + 2
    end
  end
  return out
end
local lim = ''
if limit ~= nil then lim = fmt(limit) end
-- (one concatenation: cheaper than a table and table.concat; code, remind and n are small
-- integers, which Lua prints as Python does)
return code .. '|' .. used_s .. '|' .. lim .. '|' .. streak_s .. '|' .. remind .. '|' .. n
  .. '|' .. (s['pause'] or '') .. '|' .. (s['win'] or '') .. '|' .. sday .. '|' .. rl_s
  .. '|' .. last_s .. '|' .. (s['xfrom'] or '') .. '|' .. (s['xuntil'] or '') .. '|'
  .. (s['xcurfew'] or '') .. '|' .. (s['xpurpose'] or '')
"""
