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
operation reads the state anyway). :func:`pack` sends it as ``ttl|e:<id>|t,x|``: the ttl
(for a state the append creates), then the very text appended, which the script cuts off
with one ``find`` (issue 19: matching and joining the four fields cost about 6,000
instructions per call, 4% of the script).

On Redis the state is one string (``field|value|field|value|…|``: no field or value holds a
``|``), read with one ``GET`` and written with one ``SET … PX ttl``, so it expires ``ttl`` ms
after its last operation; the days of history ride in one field (``h``,
``"day=seconds,…"``), which only a day's roll reads; :func:`state_of` reads it back as the
map above. A ``fin`` only appends its field (``APPEND``: the state is not read), and one
script run takes several operations (``KEYS[i]``/``ARGV[i]``, every one but the last a
``fin``): the ends waiting in the store's outbox leave with the next call in one run, those
of the same state joined to what it reads. A state kept as a hash by an earlier version is
rewritten as a string by the first operation on it.

The script writes the figures first (``day|…|used|…|last|…|streak|…|rl|…|``, then ``idle``
and the other fields), reads them with one pattern match when they come so, and reads any
other order field by field: a state written by the script before issue 19 (fields in Lua
table order) is read as before, and that script reads the new strings (it never depended on
the order), so replicas of both versions share the states during a rolling upgrade; the
fields and their values' format are unchanged. Both twins write a figure that an operation
leaves at its value back as it was read, and a time as the text that set it (``t``, a noted
end's time), so that the script formats only the figures that changed.

Replies (but ``control``'s and ``snapshot``'s): code, used, limit ("" for none), streak,
reminder due (0/1), calls in flight, pause, windows, day, reminders given (``rl``), and the
instant use is charged up to (``last``) — from which a release can be told without asking
the store again (:meth:`MinorProtection.release` with ``wait=False``) — and the exemption in
force (``xfrom``, ``xuntil``, ``xcurfew``, ``xpurpose``; empty when none).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence

__all__ = ["CODES", "LUA", "apply", "argv_of", "compact_arguments", "fmt", "in_windows",
           "lua_for", "pack", "state_of", "unpack"]

#: start codes
OK, PAUSED, CURFEW, WINDOW, QUOTA = 0, 1, 2, 3, 4
CODES = {OK: "ok", PAUSED: "paused", CURFEW: "curfew", WINDOW: "window", QUOTA: "quota"}
CONTROL_FIELDS = ("glimit", "pause", "win", "xfrom", "xuntil", "xcurfew", "xpurpose")
EXEMPTION_FIELDS = ("xfrom", "xuntil", "xcurfew", "xpurpose")


def fmt(x: float) -> str:
    """Numbers as both Python and Lua print them (exact round trip)."""
    return f"{x:.17g}"


def pack(argv: Sequence[str], constants: Sequence[str] | None = None) -> str:
    """The arguments as :data:`LUA` takes them: one string, fields joined by ``|`` (one
    value to encode and send instead of thirteen). A ``fin`` (call id, t, x, ttl ms) is
    sent as ``ttl|e:<id>|t,x|``: the ttl, then the very text the script appends to the
    state, so that the script cuts it off with one ``find`` instead of matching and
    joining its fields (:func:`argv_of` reads either form back). With ``constants`` (lease,
    ttl, rest break, reminder interval), a call whose arguments carry them leaves without
    them, for a script of :func:`lua_for` (10 fields: op, id, t, day, day start, cutoff,
    x, limit, curfew, ceiling or "")."""
    if argv[0] == "fin":
        return f"{argv[4]}|e:{argv[1]}|{argv[2]},{argv[3]}|"
    if (constants is not None and 13 <= len(argv) <= 14 and argv[0] != "control"
            and (argv[5], argv[7], argv[11], argv[12]) == tuple(constants)):
        # compact: without the constants a script of :func:`lua_for` holds
        return "|".join([*argv[:5], argv[6], *argv[8:11], argv[13] if len(argv) > 13 else ""])
    return "|".join(argv)


def argv_of(line: str, constants: Sequence[str] | None = None) -> list[str]:
    """The arguments :func:`pack` packed into ``line`` (with the same ``constants``), as
    :func:`apply` takes them."""
    if line[:1].isdigit():  # a fin: ttl|e:<id>|t,x|
        ttl, _, entry = line.partition("|")
        cid, _, times = entry[2:-1].partition("|")
        t, _, x = times.partition(",")
        return ["fin", cid, t, x, ttl]
    argv = line.split("|")
    if constants is not None and len(argv) == 10 and argv[0] != "control":
        lease, ttl, brk, remind = constants
        full = [*argv[:5], lease, argv[5], ttl, *argv[6:9], brk, remind]
        return [*full, argv[9]] if argv[9] else full
    return argv


def compact_arguments(constants: Sequence[str]) -> bool:
    """Whether a call's arguments can leave without ``constants`` (lease, ttl, rest break,
    reminder interval: :func:`pack`'s compact form), which :func:`lua_for` builds into the
    script: each a number as :func:`fmt` prints it (the ttl an integer), no ``|`` or quote."""
    try:
        return all(fmt(float(c)) == c and math.isfinite(float(c)) for c in constants) and (
            constants[1].isdigit())
    except ValueError:
        return False


def lua_for(constants: Sequence[str]) -> str:
    """:data:`LUA` with the policy's ``constants`` (lease, ttl ms, rest break, reminder
    interval, as the arguments carry them) built in: it also takes a call's arguments
    without them (``pack(argv, constants)``: 10 fields instead of 14, the ceiling empty
    when there is none), and converts none of them per call (issue 19: about 7,400
    instructions per call, 5% of the script). Every other form reads as with :data:`LUA`.
    A policy has its own script (its own SHA); the states are the same."""
    if not compact_arguments(constants):
        raise ValueError(f"not constants a script can hold: {constants!r}")
    lease, ttl, brk, remind = constants
    block = (
        f"op, cid, ts, day, day_start_s, cutoff, x_s, limit_s, curfew, ceiling_s = "
        f"match(line, '{_COMPACT}')\n"
        f"if op ~= nil and op ~= 'control' then\n"
        f"  lease_s, ttl, brk_s, remind_s = '{lease}', '{ttl}', '{brk}', '{remind}'\n"
        f"  lease, brk, remind_every = {lease}, {brk}, {remind}\n"
        f"  if ceiling_s == '' then ceiling_s = nil; na = 13 end\n"
        f"elseif op ~= nil then op = nil end"
    )
    return LUA.replace("--@COMPACT@", block)


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
    """Run one operation on state ``s`` (changed in place); returns what :data:`LUA` returns.

    A figure whose value the operation leaves as it was is written back as it was read, and
    a time as the text that set it (the argument ``t``, a noted end's time) when there is
    one: the Lua script does the same, and formats only the figures that changed."""
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
    lease = float(argv[5])
    cutoff = argv[6]
    # the figures' texts as read (None: to be formatted); ``idle_text`` is that of ``idle``
    idle_text = s.get("idle")
    idle: float | None = None
    if "day" not in s:
        sday, used, last, streak, rl = day, 0.0, t, 0.0, 0
        used_text = last_text = streak_text = rl_text = None
    else:
        sday = s["day"]
        used_text, last_text, streak_text, rl_text = s["used"], s["last"], s["streak"], s["rl"]
        used, last, streak = float(used_text), float(last_text), float(streak_text)
        rl = int(rl_text)
        if idle_text is not None:
            idle = float(idle_text)
    used0, last0, streak0, rl0 = used, last, streak, rl
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
        accrue(float(argv[4]))  # the day's start
        for f in [f for f in s if f.startswith("h:") and f[2:] < cutoff]:
            del s[f]
        if sday >= cutoff:
            s["h:" + sday] = fmt(used)
        used = 0.0
        sday = day

    def finish(key: str, at: float, at_text: str, seen: str) -> None:
        """What ``end`` does at ``at`` (``at_text``) once use is charged up to it; ``seen``:
        when the call was last heard of."""
        nonlocal n, idle, idle_text, used, streak
        if key in s:
            del s[key]
            n -= 1
            if n == 0:
                idle, idle_text = at, at_text
        elif n == 0:  # expired while running: charge what the lease did not cover
            base = float(seen) + lease
            if idle is not None and idle > base:
                base = idle
            extra = at - base
            if extra > 0:
                used += extra
                streak += extra
            idle, idle_text = at, at_text

    # the calls noted ended (``fin``) and the leases that ran out, in time order; a noted
    # end later than ``t`` (another replica's clock) also lets the leases run out until it.
    # An event: (time, field, when last heard of and the time's text: a noted end's only)
    events: list[tuple[float, str, str | None, str | None]] = []
    horizon = t
    for f, v in marks:
        at_text, seen_text = v.split(",", 1)
        at = float(at_text)
        events.append((at, f, seen_text, at_text))
        horizon = max(horizon, at)
    for f in calls:
        expiry = float(s[f]) + lease
        if expiry <= horizon:
            events.append((expiry, f, None, None))
    if len(events) > 1:
        events.sort(key=lambda e: (e[0], e[1]))
    pending = sday < day
    for e, f, seen, e_text in events:
        if seen is None and f not in s:
            continue  # its noted end came first
        if pending and e >= float(argv[4]):
            roll()
            pending = False
        accrue(e)
        del s[f]
        if seen is not None and e_text is not None:
            # as ``end`` at e: the call ends, a reminder level is taken
            finish("c:" + f[2:], e, e_text, seen)
            if remind_every > 0:
                rl = max(rl, math.floor(streak / remind_every))
        else:  # the lease ran out
            n -= 1
            if n == 0:
                idle, idle_text = e, None
    if pending:
        roll()
    accrue(t)

    # the limit, as the text it came from: the argument, the guardian's, or the ceiling
    if len(argv) > 9:
        limit_text = argv[9]
        limit = float(limit_text)
    else:
        limit_text, limit = "", math.inf
    if "glimit" in s:
        glimit_text = s["glimit"]
        glimit = float(glimit_text)
        if len(argv) > 13:
            ceiling_text, ceiling = argv[13], float(argv[13])
        else:
            ceiling_text, ceiling = limit_text, limit
        if glimit <= ceiling:
            limit, limit_text = glimit, glimit_text
        else:
            limit, limit_text = ceiling, ceiling_text
    if limit == math.inf:
        limit_text = ""
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
        finish(key, t, ts, argv[8])
    elif op == "beat" and key in s:
        s[key] = ts
    if op in ("start", "end") and code == OK and remind_every > 0:
        level = math.floor(streak / remind_every)
        if level > rl:
            remind, rl = 1, level
    # the figures: as read when unchanged, else formatted
    if used_text is None or used != used0:
        used_text = fmt(used)
    if streak_text is None or streak != streak0:
        streak_text = fmt(streak)
    if rl_text is None or rl != rl0:
        rl_text = str(rl)
    if last == t:
        last_text = ts
    elif last_text is None or last != last0:
        last_text = fmt(last)
    s["day"], s["used"], s["last"] = sday, used_text, last_text
    s["streak"], s["rl"] = streak_text, rl_text
    if idle is not None:
        if idle_text is None:
            idle_text = ts if idle == t else fmt(idle)
        s["idle"] = idle_text
    if op == "snapshot":
        out: list[str] = []
        for f, v in s.items():
            out += [f, v]
        return out
    return [str(code), used_text, limit_text, streak_text, str(remind), str(n),
            s.get("pause", ""), s.get("win", ""), sday, rl_text, last_text,
            s.get("xfrom", ""), s.get("xuntil", ""), s.get("xcurfew", ""), s.get("xpurpose", "")]


LUA = r"""
-- Operations in pairs KEYS[i] / ARGV[i], run in order; the reply is the last one's. Only
-- ``fin`` may come before the last (the ends a store's outbox held, sent with its next call).
-- A state is one string: field|value|field|value|... (no field or value holds '|', fields in
-- any order); the days of history (h:<day>) ride in one field, h = "day=seconds,...", read
-- only at a roll. Strings are split with string.find (plain), not patterns; the figures (day,
-- used, last, streak, rl, idle) are kept in locals and written back as they were read when
-- their value did not change, times as the argument that set them (as ``apply`` does).
local find, sub, byte, match, format = string.find, string.sub, string.byte, string.match,
  string.format
local tonumber, pairs = tonumber, pairs
local nops = #KEYS
local key = KEYS[nops]
local line = ARGV[nops]
local c1 = byte(line, 1)
local last_fin = c1 ~= nil and c1 >= 48 and c1 <= 57  -- a fin (ttl|e:...)

-- a state kept as a hash (before this format) is rewritten as a string first
local function from_hash(k)
  local raw = redis.call('HGETALL', k)
  local out, hist = {}, {}
  for i = 1, #raw, 2 do
    local f, v = raw[i], raw[i + 1]
    if sub(f, 1, 2) == 'h:' then hist[#hist + 1] = sub(f, 3) .. '=' .. v
    else out[#out + 1] = f; out[#out + 1] = v end
  end
  if #hist > 0 then out[#out + 1] = 'h'; out[#out + 1] = table.concat(hist, ',') end
  local ttl = redis.call('PTTL', k)
  redis.call('DEL', k)
  if #out == 0 then return '' end
  out[#out + 1] = ''
  local t = table.concat(out, '|')
  if ttl > 0 then redis.call('SET', k, t, 'PX', ttl) else redis.call('SET', k, t) end
  return t
end

-- the noted ends, each sent as ttl|e:<id>|t,x| (the ttl, then the very text appended):
-- appended to their state (``APPEND``: the state is not read), those of the last
-- operation's state joined to what it reads instead
local extra = ''
local nfin = nops - 1
if last_fin then nfin = nops end
for i = 1, nfin do
  local a = ARGV[i]
  local q = find(a, '|e:', 1, true)
  local c = byte(a, 1)
  if q == nil or c < 48 or c > 57 or byte(a, -1) ~= 124 then
    return redis.error_reply('ERR only fin operations may precede another')
  end
  local entry = sub(a, q + 1)
  local k = KEYS[i]
  if k == key and not last_fin then
    extra = extra .. entry
  else
    local len = redis.pcall('APPEND', k, entry)
    if type(len) == 'table' then
      from_hash(k)
      len = redis.call('APPEND', k, entry)
    end
    if len == #entry then  -- a new state: keep it as long as a state is kept
      local ttl = tonumber(sub(a, 1, q - 1))
      if ttl and ttl > 0 then redis.call('PEXPIRE', k, ttl) end
    end
  end
end
if last_fin then return '0' end

-- the arguments: the 14 of a call (a ceiling given, as the call path sends them) in one
-- match, any other shape one by one; a script built with the policy's constants
-- (``lua_for``) first takes the 10 of a call without them (``pack``'s compact form)
local op, cid, ts, day, day_start_s, lease_s, cutoff, ttl, x_s, limit_s, curfew, brk_s,
  remind_s, ceiling_s
local na, A, lease, brk, remind_every = 14, nil, nil, nil, nil
--@COMPACT@
if op == nil then
  op, cid, ts, day, day_start_s, lease_s, cutoff, ttl, x_s, limit_s, curfew, brk_s,
    remind_s, ceiling_s = match(line, '@CALL@')
end
if op == nil or op == 'control' then
  A, na = {}, 0
  local p = 1
  while true do
    local q = find(line, '|', p, true)
    na = na + 1
    if q == nil then A[na] = sub(line, p); break end
    A[na] = sub(line, p, q - 1)
    p = q + 1
  end
  op, cid, ts, day, day_start_s, lease_s, cutoff, ttl, x_s, limit_s, curfew, brk_s, remind_s,
    ceiling_s = A[1], A[2], A[3], A[4], A[5], A[6], A[7], A[8], A[9], A[10], A[11], A[12],
    A[13], A[14]
end
local raw = redis.pcall('GET', key)
if type(raw) == 'table' and raw.err then raw = from_hash(key) elseif not raw then raw = '' end
if extra ~= '' then raw = raw .. extra end
local size = #raw

if op == 'control' then
  local s, p = {}, 1
  while p <= size do
    local q = find(raw, '|', p, true)
    local r = find(raw, '|', q + 1, true)
    s[sub(raw, p, q - 1)] = sub(raw, q + 1, r - 1)
    p = r + 1
  end
  for i = 2, na - 1, 2 do
    if A[i + 1] == '' then s[A[i]] = nil else s[A[i]] = A[i + 1] end
  end
  local body = ''
  for f, v in pairs(s) do body = body .. f .. '|' .. v .. '|' end
  if body == '' then redis.call('DEL', key) else redis.call('SET', key, body, 'KEEPTTL') end
  return '0'
end

-- the state: the figures (written first: day .. rl, idle) as text; the calls in flight
-- (c:<id>) in ``C`` and those noted ended (e:<id>) in ``M``, id and value in turn (a call's
-- value false once it ended); ``s`` holds every other field
local sday, used_s, last_s, streak_s, rl_s, idle_s, p = match(raw, '@FIGURES@idle|([^|]*)|()')
if p == nil then
  sday, used_s, last_s, streak_s, rl_s, p = match(raw, '@FIGURES@()')
  if p == nil then p = 1 end  -- (none, or written in another order: read field by field)
end
local s, C, M, nc, nm = {}, {}, nil, 0, 0
while p <= size do
  local q = find(raw, '|', p, true)
  local r = find(raw, '|', q + 1, true)
  local c = byte(raw, p)
  if (c == 99 or c == 101) and q > p + 1 and byte(raw, p + 1) == 58 then
    local id, v = sub(raw, p + 2, q - 1), sub(raw, q + 1, r - 1)
    if c == 99 then  -- (a field seen twice: the last value holds)
      local j = 1
      while j < nc and C[j] ~= id do j = j + 2 end
      if j > nc then nc = nc + 2; j = nc - 1; C[j] = id end
      C[j + 1] = v
    else
      if M == nil then M = {} end
      local j = 1
      while j < nm and M[j] ~= id do j = j + 2 end
      if j > nm then nm = nm + 2; j = nm - 1; M[j] = id end
      M[j + 1] = v
    end
  else
    local f, v = sub(raw, p, q - 1), sub(raw, q + 1, r - 1)
    if f == 'idle' then idle_s = v
    elseif f == 'used' then used_s = v
    elseif f == 'last' then last_s = v
    elseif f == 'streak' then streak_s = v
    elseif f == 'day' then sday = v
    elseif f == 'rl' then rl_s = v
    else s[f] = v end
  end
  p = r + 1
end
local n = nc / 2
local t = tonumber(ts)
if lease == nil then
  lease = tonumber(lease_s)
  remind_every = 0
  if na >= 13 then remind_every = tonumber(remind_s) end
end
-- ``idle`` false: there is one, not read yet (only an expired call and a start need it)
local used, last, streak, rl, idle
if sday == nil then
  sday = day; used = 0; last = t; streak = 0; rl = 0
  used_s = nil; last_s = nil; streak_s = nil; rl_s = nil
else
  used = tonumber(used_s); last = tonumber(last_s); streak = tonumber(streak_s)
  if rl_s == '0' then rl = 0 else rl = tonumber(rl_s) end
  if idle_s then idle = false end
end
local used0, last0, streak0, rl0 = used, last, streak, rl

-- the calls noted ended and the leases that ran out, in time order (``ev``: 4 slots each:
-- time; for a noted end its id, when it was last heard of and the time's text, for a lease
-- the call's index in ``C``, false and false); a noted end later than ``t`` (another
-- replica's clock) also lets the leases run out until it
local horizon = t
local ev, ne = nil, 0
if nm > 0 then
  ev = {}
  for j = 1, nm, 2 do
    local at_s, seen_s = match(M[j + 1], '^([^,]*),(.*)$')
    local at = tonumber(at_s)
    ev[ne + 1] = at; ev[ne + 2] = M[j]; ev[ne + 3] = seen_s; ev[ne + 4] = at_s
    ne = ne + 4
    if at > horizon then horizon = at end
  end
end
for j = 1, nc, 2 do
  local e = tonumber(C[j + 1]) + lease
  if e <= horizon then
    if ev == nil then ev = {} end
    ev[ne + 1] = e; ev[ne + 2] = j; ev[ne + 3] = false; ev[ne + 4] = false
    ne = ne + 4
  end
end
local pending = sday < day
local day_start, roll
if pending then  -- a new day: close the state's own
  day_start = tonumber(day_start_s)
  roll = function()
    if day_start > last then
      if n > 0 then local d = day_start - last; used = used + d; streak = streak + d end
      last = day_start
    end
    local hist = {}
    if s['h'] then
      for d, v in string.gmatch(s['h'], '([^=,]*)=([^,]*)') do
        if d >= cutoff and d ~= sday then hist[#hist + 1] = d .. '=' .. v end
      end
    end
    if sday >= cutoff then hist[#hist + 1] = sday .. '=' .. format('%.17g', used) end
    if #hist > 0 then s['h'] = table.concat(hist, ',') else s['h'] = nil end
    used = 0
    sday = day
  end
end
if ne > 0 then
  local order
  if ne > 4 then  -- by time, then field ('c:<id>' before 'e:<id>', then by id)
    order = {}
    for j = 1, ne, 4 do order[#order + 1] = j end
    table.sort(order, function(a, b)
      if ev[a] ~= ev[b] then return ev[a] < ev[b] end
      local ma, mb = ev[a + 2] ~= false, ev[b + 2] ~= false
      if ma ~= mb then return mb end
      if ma then return ev[a + 1] < ev[b + 1] end
      return C[ev[a + 1]] < C[ev[b + 1]]
    end)
  end
  for k = 1, ne / 4 do
    local i = 4 * k - 3
    if order then i = order[k] end
    local e, seen_s = ev[i], ev[i + 2]
    if seen_s or C[ev[i + 1] + 1] then  -- (a lease: unless its noted end came first)
      if pending and e >= day_start then roll(); pending = false end
      if e > last then
        if n > 0 then local d = e - last; used = used + d; streak = streak + d end
        last = e
      end
      if seen_s then  -- as ``end`` at e: the call ends, a reminder level is taken
        local id = ev[i + 1]
        local j = 1
        while j < nc and (C[j] ~= id or not C[j + 1]) do j = j + 2 end
        if j < nc then
          C[j + 1] = false
          n = n - 1
          if n == 0 then idle = e; idle_s = ev[i + 3] end
        elseif n == 0 then  -- expired while running: charge what the lease did not cover
          if idle == false then idle = tonumber(idle_s) end
          local base = tonumber(seen_s) + lease
          if idle ~= nil and idle > base then base = idle end
          local x = e - base
          if x > 0 then used = used + x; streak = streak + x end
          idle = e; idle_s = ev[i + 3]
        end
        if remind_every > 0 then
          local level = math.floor(streak / remind_every)
          if level > rl then rl = level end
        end
      else  -- the lease ran out
        C[ev[i + 1] + 1] = false
        n = n - 1
        if n == 0 then idle = e; idle_s = nil end
      end
    end
  end
end
if pending then roll() end
if t > last then
  if n > 0 then local d = t - last; used = used + d; streak = streak + d end
  last = t
end

local limit
if na >= 10 then limit = tonumber(limit_s) else limit_s = '' end
local g_s = s['glimit']
if g_s then
  local g = tonumber(g_s)
  local ceiling = limit
  if na >= 14 then ceiling = tonumber(ceiling_s) else ceiling_s = limit_s end
  if ceiling == nil or g <= ceiling then limit = g; limit_s = g_s
  else limit = ceiling; limit_s = ceiling_s end
end
if limit == nil or limit == math.huge then limit_s = '' end
if s['xuntil'] and tonumber(s['xuntil']) <= horizon then
  s['xfrom'] = nil; s['xuntil'] = nil; s['xcurfew'] = nil; s['xpurpose'] = nil
end
local exempt = s['xuntil'] ~= nil and s['xfrom'] ~= nil and tonumber(s['xfrom']) <= t
-- (the reply's code, reminder flag and count as text: Lua prints a number with sprintf)
local code = '0'
local remind = '0'
-- this call's index in ``C`` (past the end when it is not there)
local j = 1
if op ~= 'snapshot' then
  while j < nc and C[j] ~= cid do j = j + 2 end
end
if op == 'start' then
  local win = s['win']
  local inwin = true
  if win and not exempt then
    local sod = tonumber(x_s)
    inwin = false
    for a, b in string.gmatch(win, '([%d%.]+)-([%d%.]+)') do
      a = tonumber(a); b = tonumber(b)
      if a <= b then
        if sod >= a and sod < b then inwin = true end
      else
        if sod >= a or sod < b then inwin = true end
      end
    end
  end
  if s['pause'] and tonumber(s['pause']) > t then code = '1'
  elseif curfew == '1' and not (exempt and s['xcurfew'] == '1') then code = '2'
  elseif not inwin then code = '3'
  elseif limit ~= nil and used >= limit and not exempt then code = '4'
  else
    if idle == false then idle = tonumber(idle_s) end
    if n == 0 and (idle == nil or t - idle >= (brk or tonumber(brk_s))) then streak = 0; rl = 0 end
    if j > nc then nc = nc + 2; C[j] = cid end
    C[j + 1] = ts
    n = n + 1
  end
elseif op == 'end' then
  if j < nc and C[j + 1] then
    C[j + 1] = false
    n = n - 1
    if n == 0 then idle = t; idle_s = ts end
  elseif n == 0 then  -- expired while running: charge what the lease did not cover
    if idle == false then idle = tonumber(idle_s) end
    local base = tonumber(x_s) + lease
    if idle ~= nil and idle > base then base = idle end
    local x = t - base
    if x > 0 then used = used + x; streak = streak + x end
    idle = t; idle_s = ts
  end
elseif op == 'beat' then
  if j < nc and C[j + 1] then C[j + 1] = ts end
end
if (op == 'start' or op == 'end') and code == '0' and remind_every > 0 then
  local level = math.floor(streak / remind_every)
  if level > rl then remind = '1'; rl = level end
end

-- the figures as they were read when unchanged (as ``apply`` writes them), first
if used_s == nil or used ~= used0 then used_s = format('%.17g', used) end
if streak_s == nil or streak ~= streak0 then streak_s = format('%.17g', streak) end
if rl_s == nil or rl ~= rl0 then rl_s = format('%d', rl) end
if last == t then last_s = ts elseif last_s == nil or last ~= last0 then
  last_s = format('%.17g', last)
end
if idle and idle_s == nil then
  if idle == t then idle_s = ts else idle_s = format('%.17g', idle) end
end
local body = 'day|' .. sday .. '|used|' .. used_s .. '|last|' .. last_s .. '|streak|'
  .. streak_s .. '|rl|' .. rl_s .. '|'
if idle_s then body = body .. 'idle|' .. idle_s .. '|' end
for i = 1, nc, 2 do
  if C[i + 1] then body = body .. 'c:' .. C[i] .. '|' .. C[i + 1] .. '|' end
end
for f, v in pairs(s) do body = body .. f .. '|' .. v .. '|' end
redis.call('SET', key, body, 'PX', ttl)
if op == 'snapshot' then
  local res = {'day', sday, 'used', used_s, 'last', last_s, 'streak', streak_s, 'rl', rl_s}
  local i = 10
  if idle_s then res[11] = 'idle'; res[12] = idle_s; i = 12 end
  for k = 1, nc, 2 do
    if C[k + 1] then res[i + 1] = 'c:' .. C[k]; res[i + 2] = C[k + 1]; i = i + 2 end
  end
  for f, v in pairs(s) do
    if f == 'h' then
      for d, u in string.gmatch(v, '([^=,]*)=([^,]*)') do
        res[i + 1] = 'h:' .. d; res[i + 2] = u; i = i + 2
      end
    else
      res[i + 1] = f; res[i + 2] = v; i = i + 2
    end
  end
  return res
end
local n_s
if n < 10 then n_s = sub('0123456789', n + 1, n + 1) else n_s = format('%d', n) end
-- (one concatenation: cheaper than a table and table.concat)
return code .. '|' .. used_s .. '|' .. limit_s .. '|' .. streak_s .. '|' .. remind .. '|' .. n_s
  .. '|' .. (s['pause'] or '') .. '|' .. (s['win'] or '') .. '|' .. sday .. '|' .. rl_s
  .. '|' .. last_s .. '|' .. (s['xfrom'] or '') .. '|' .. (s['xuntil'] or '') .. '|'
  .. (s['xcurfew'] or '') .. '|' .. (s['xpurpose'] or '')
"""
# the patterns the script reads a call's arguments (14 fields) and a state's
# figures with (written out here: too long for a line of source)
#: a call's arguments without the constants (``pack``'s compact form): 10 fields
_COMPACT = "^" + "([^|]*)|" * 9 + "([^|]*)$"
LUA = LUA.replace("@CALL@", "^" + "([^|]*)|" * 13 + "([^|]*)$").replace(
    "@FIGURES@", "^day|([^|]*)|used|([^|]*)|last|([^|]*)|streak|([^|]*)|rl|([^|]*)|")
