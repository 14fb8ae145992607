/**
 * The store engine in Lua: the same semantics as `@tollgate/core`'s `applyBatch` (see
 * packages/core/src/engine), run atomically inside Redis. Every counter of one identity is a field
 * of one hash (`KEYS[k]`), read with one HMGET and written with one HSET, and the hash carries a TTL
 * that covers its longest-lived counter. The conformance suite's differential test holds this to the
 * TypeScript engine's decisions, so a change to one must be made to the other.
 *
 * ARGV is the batch, one value per entry (see `encodeBatch`), as text that passes unchanged through
 * clients that send JSON strings (@upstash/redis) as well as through ioredis. Lua in Redis pays for
 * every value it turns into a table entry and every function it calls, so the batch is read in place
 * (one `tonumber` per number), and a log is kept as a packed binary string (with `struct`) that a
 * decision touches only at its ends. The reply is a flat integer array
 * `{ now, allowed, used, resetAt, retryAt, used, ... }` with one triple per charge and -1 for an
 * infinite retry time. Integers keep amounts exact: nothing passes through Lua's `tostring`.
 */
export const ENGINE_LUA = String.raw`
local INF = math.huge
local META = '~e' -- when the hash expires: at or after the latest expiry of any counter in it

-- The batch: see encodeBatch in batch.ts for the layout, one value per ARGV entry, read in order.
local next_arg = 0
local function number() next_arg = next_arg + 1 return tonumber(ARGV[next_arg]) end
local function text() next_arg = next_arg + 1 return ARGV[next_arg] end
local TYPES = { 'log', 'window', 'bucket', 'calendar', 'slots' }
local ADJUSTMENTS = { 'add', 'refund', 'release', 'touch', 'reset' }
local function read_counter(entry)
  entry.k = number()
  entry.f = text()
  local alg = { TYPES[number()] }
  for i = 2, number() + 1 do alg[i] = number() end
  entry.a = alg
  return entry
end

local now, dry, charge_count, adjustment_count = number(), number(), number(), number()
if not now then -- empty: no test clock, use the server's
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local batch = { c = {}, j = {} }
for i = 1, charge_count do
  local charge = read_counter({})
  charge.m = number()
  charge.l = text()
  batch.c[i] = charge
end
for i = 1, adjustment_count do
  local adjustment = read_counter({ t = ADJUSTMENTS[number()] })
  adjustment.m = number()
  adjustment.at = number()
  adjustment.l = text()
  batch.j[i] = adjustment
end

-- Series: ascending keys (times, segments), each with an amount, packed as two big-endian doubles
-- per entry, with a running sum: { s = sum, d = entries }. Stored as the sum (8 bytes) then the
-- entries, so a decision decodes only the entries it looks at.

local ENTRY = 16
local function series_decode(value) return { s = struct.unpack('>d', value, 1), d = string.sub(value, 9) } end
local function series_encode(st) return struct.pack('>d', st.s) .. st.d end
local function series_count(st) return #st.d / ENTRY end
local function series_at(st, i)
  local key, amount = struct.unpack('>dd', st.d, (i - 1) * ENTRY + 1)
  return key, amount
end

-- Drops the leading entries with keys below bound; nil when none are left.
local function prune_below(st, bound)
  if not st then return nil end
  local n, dropped = series_count(st), 0
  while dropped < n do
    local key, amount = series_at(st, dropped + 1)
    if key >= bound then break end
    st.s = st.s - amount
    dropped = dropped + 1
  end
  if dropped == n then return nil end
  if dropped > 0 then st.d = string.sub(st.d, dropped * ENTRY + 1) end
  return st
end

local function series_add(st, key, amount)
  local entry = struct.pack('>dd', key, amount)
  if not st then return { s = amount, d = entry } end
  st.s = st.s + amount
  local n = series_count(st)
  local last_key, last_amount = series_at(st, n)
  if last_key < key then
    st.d = st.d .. entry
  elseif last_key == key then
    st.d = string.sub(st.d, 1, (n - 1) * ENTRY) .. struct.pack('>dd', key, last_amount + amount)
  else
    -- The clock stepped back: insert in order (rare, so the simple way).
    local index = 1
    while series_at(st, index) < key do index = index + 1 end
    local found, found_amount = series_at(st, index)
    local before, after = string.sub(st.d, 1, (index - 1) * ENTRY), string.sub(st.d, index * ENTRY + 1)
    if found == key then
      st.d = before .. struct.pack('>dd', key, found_amount + amount) .. after
    else
      st.d = before .. entry .. string.sub(st.d, (index - 1) * ENTRY + 1)
    end
  end
  return st
end

-- Takes up to amount from the entry at key; returns the state (nil when empty).
local function series_take(st, key, amount)
  if not st then return nil end
  for index = 1, series_count(st) do
    local found, found_amount = series_at(st, index)
    if found == key then
      local taken = math.min(amount, found_amount)
      local rest = ''
      if found_amount > taken then rest = struct.pack('>dd', key, found_amount - taken) end
      st.d = string.sub(st.d, 1, (index - 1) * ENTRY) .. rest .. string.sub(st.d, index * ENTRY + 1)
      st.s = st.s - taken
      break
    end
  end
  if #st.d == 0 then return nil end
  return st
end

-- The key at which dropping the oldest entries frees at least excess.
local function key_freeing(st, excess)
  for index = 1, series_count(st) do
    local key, amount = series_at(st, index)
    excess = excess - amount
    if excess <= 0 then return key end
  end
end

local function last_key(st) return (series_at(st, series_count(st))) end

-- Algorithms. An algorithm is { type, limit, ... } as encodeBatch writes it. Each model is built
-- only when the batch uses its type: every function a script defines is created anew on every call.

local builders = {}

builders.log = function() return {
  decode = series_decode,
  encode = series_encode,
  prune = function(st, alg) return prune_below(st, now - alg[3] + 1) end,
  used = function(st) return st and st.s or 0 end,
  expires = function(st, alg) return last_key(st) + alg[3] end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    local excess = (st and st.s or 0) + need - alg[2]
    if not st or excess <= 0 then return now end
    return key_freeing(st, excess) + alg[3]
  end,
  add = function(st, alg, amount) return series_add(st, now, amount) end,
  refund = function(st, alg, amount, at) return series_take(st, at, amount) end,
} end

local function segment_end(i, alg) return (i + 1) * alg[4] + alg[3] end

builders.window = function() return {
  decode = series_decode,
  encode = series_encode,
  prune = function(st, alg) return prune_below(st, math.floor((now - alg[3]) / alg[4])) end,
  used = function(st) return st and st.s or 0 end,
  expires = function(st, alg) return segment_end(last_key(st), alg) end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    local excess = (st and st.s or 0) + need - alg[2]
    if not st or excess <= 0 then return now end
    return segment_end(key_freeing(st, excess), alg)
  end,
  add = function(st, alg, amount) return series_add(st, math.floor(now / alg[4]), amount) end,
  refund = function(st, alg, amount, at) return series_take(st, math.floor(at / alg[4]), amount) end,
} end

-- Bucket: state { tat, rem } is the exact arrival time tat + rem / limit ms; arithmetic is in
-- integers scaled by limit (ms x limit). An algorithm is { 'bucket', limit, windowMs, burst }.
local function backlog(st, alg) return math.max(0, (st.tat - now) * alg[2] + st.rem) end
local function fill(st, alg, scaled)
  st = st or {}
  st.tat = now + math.floor(scaled / alg[2])
  st.rem = scaled % alg[2]
  return st
end
local function full_at(st) if st.rem > 0 then return st.tat + 1 end return st.tat end

builders.bucket = function() return {
  prune = function(st, alg) if st and backlog(st, alg) > 0 then return st end return nil end,
  used = function(st, alg) if not st then return 0 end return math.ceil(backlog(st, alg) / alg[3]) end,
  expires = function(st) return full_at(st) end,
  retry = function(st, alg, need)
    if need > alg[4] then return INF end
    local held = 0
    if st then held = backlog(st, alg) end
    local excess = held - (alg[4] - need) * alg[3]
    if excess <= 0 then return now end
    return now + math.ceil(excess / alg[2])
  end,
  add = function(st, alg, amount)
    local held = 0
    if st then held = backlog(st, alg) end
    return fill(st, alg, held + amount * alg[3])
  end,
  refund = function(st, alg, amount, at)
    if not st then return nil end
    local refundable = math.max(0, amount * alg[3] - (now - at) * alg[2])
    local remaining = math.max(0, backlog(st, alg) - refundable)
    if remaining > 0 then return fill(st, alg, remaining) end
    return nil
  end,
} end

-- A calendar algorithm is { 'calendar', limit, start1, start2, ... }: consecutive period starts.
local function current_period(alg)
  for i = 3, #alg - 1 do
    if alg[i] <= now and now < alg[i + 1] then return alg[i], alg[i + 1] end
  end
  error("the store's time is outside the calendar periods the limiter sent: the limiter's clock and Redis's disagree by more than a period")
end

builders.calendar = function() return {
  prune = function(st) if st and st.p <= now and now < st.e then return st end return nil end,
  used = function(st) return st and st.u or 0 end,
  expires = function(st) return st.e end,
  reset = function(st, alg) local _, finish = current_period(alg) return finish end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    if (st and st.u or 0) + need <= alg[2] then return now end
    local _, finish = current_period(alg)
    return finish
  end,
  add = function(st, alg, amount)
    if st then
      st.u = st.u + amount
      return st
    end
    local start, finish = current_period(alg)
    return { p = start, e = finish, u = amount }
  end,
  refund = function(st, alg, amount, at)
    if not st or at < st.p or at >= st.e then return st end
    st.u = st.u - math.min(amount, st.u)
    if st.u == 0 then return nil end
    return st
  end,
} end

-- Slots: lease id -> expiry. An algorithm is { 'slots', limit, ttlMs }.
builders.slots = function() return {
  prune = function(st)
    if not st then return nil end
    local live = false
    for id, expiry in pairs(st) do
      if expiry <= now then st[id] = nil else live = true end
    end
    if live then return st end
    return nil
  end,
  used = function(st)
    local count = 0
    if st then for _ in pairs(st) do count = count + 1 end end
    return count
  end,
  expires = function(st)
    local latest = 0
    for _, expiry in pairs(st) do latest = math.max(latest, expiry) end
    return latest
  end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    local expiries = {}
    if st then for _, expiry in pairs(st) do expiries[#expiries + 1] = expiry end end
    table.sort(expiries)
    local excess = #expiries + need - alg[2]
    if excess <= 0 then return now end
    return expiries[excess]
  end,
} end

local models = setmetatable({}, {
  __index = function(built, kind)
    local model = builders[kind]()
    built[kind] = model
    return model
  end,
})

local function reset_at(model, st, alg)
  if model.reset then return model.reset(st, alg) end
  if st then return model.expires(st, alg) end
  return now
end

-- Load every field the batch names, one HMGET per key.

-- States are msgpack, except where a model packs its own (series).
local function decode(alg, value)
  local model = models[alg[1]]
  if model.decode then return model.decode(value) end
  return cmsgpack.unpack(value)
end
local function encode(alg, st)
  local model = models[alg[1]]
  if model.encode then return model.encode(st) end
  return cmsgpack.pack(st)
end

local fields, algorithms, states, dirty = {}, {}, {}, {}
local function want(k, f, alg)
  if not fields[k] then
    fields[k] = { META }
    algorithms[k] = {}
  end
  if algorithms[k][f] then return end
  algorithms[k][f] = alg
  table.insert(fields[k], f)
end
for _, charge in ipairs(batch.c) do want(charge.k, charge.f, charge.a) end
for _, adjustment in ipairs(batch.j) do want(adjustment.k, adjustment.f, adjustment.a) end

local meta = {}
for k, names in pairs(fields) do
  local values = redis.call('HMGET', KEYS[k], unpack(names))
  states[k] = {}
  dirty[k] = {}
  meta[k] = tonumber(values[1]) or 0
  for i = 2, #names do
    if values[i] then states[k][names[i]] = decode(algorithms[k][names[i]], values[i]) end
  end
end

local function load(k, f, alg)
  local st = models[alg[1]].prune(states[k][f], alg)
  states[k][f] = st
  return st
end

local function save(k, f, alg, st)
  states[k][f] = st
  dirty[k][f] = alg
end

-- Evaluate every charge; apply all of them and the adjustments only if every one fits.

local reply = { now, 1 }
local allowed = true
for i, charge in ipairs(batch.c) do
  local alg = charge.a
  local model = models[alg[1]]
  local st = load(charge.k, charge.f, alg)
  local need = charge.m
  if need < 1 then need = 1 end
  local retry = model.retry(st, alg, need)
  if retry > now then allowed = false end
  reply[3 * i] = model.used(st, alg)
  reply[3 * i + 1] = reset_at(model, st, alg)
  if retry == INF then reply[3 * i + 2] = -1 else reply[3 * i + 2] = retry end
end

if allowed and dry == 0 then
  for _, charge in ipairs(batch.c) do
    local alg = charge.a
    local st = states[charge.k][charge.f]
    if alg[1] == 'slots' then
      st = st or {}
      st[charge.l] = now + alg[3]
      save(charge.k, charge.f, alg, st)
    elseif charge.m > 0 then
      save(charge.k, charge.f, alg, models[alg[1]].add(st, alg, charge.m))
    end
  end
  for _, adj in ipairs(batch.j) do
    local alg = adj.a
    if adj.t == 'reset' then
      save(adj.k, adj.f, alg, nil)
    else
      local st = load(adj.k, adj.f, alg)
      if alg[1] == 'slots' then
        if adj.t == 'release' then
          if st then
            st[adj.l] = nil
            if next(st) == nil then st = nil end
          end
          save(adj.k, adj.f, alg, st)
        elseif adj.t == 'touch' then
          if st and st[adj.l] then st[adj.l] = now + alg[3] end
          save(adj.k, adj.f, alg, st)
        end
      elseif adj.t == 'add' then
        save(adj.k, adj.f, alg, models[alg[1]].add(st, alg, adj.m))
      elseif adj.t == 'refund' then
        save(adj.k, adj.f, alg, models[alg[1]].refund(st, alg, adj.m, adj.at))
      end
    end
  end

  -- Write back: one HSET (and HDEL for emptied counters) per key, and a TTL covering them all.
  -- The TTL is set with a quarter of slack (at least a second), so busy keys are not re-expired on
  -- every decision; idle state still disappears within 1.25x its lifetime.
  for k, changed in pairs(dirty) do
    local set, gone = {}, {}
    local needed = 0
    for f, alg in pairs(changed) do
      local st = states[k][f]
      if st then
        set[#set + 1] = f
        set[#set + 1] = encode(alg, st)
        needed = math.max(needed, models[alg[1]].expires(st, alg))
      else
        gone[#gone + 1] = f
      end
    end
    if #gone > 0 then redis.call('HDEL', KEYS[k], unpack(gone)) end
    if #set > 0 then
      local expiry = meta[k]
      if needed > expiry then
        expiry = needed + math.max(1000, math.floor((needed - now) / 4))
        set[#set + 1] = META
        set[#set + 1] = expiry
      end
      redis.call('HSET', KEYS[k], unpack(set))
      if expiry ~= meta[k] then redis.call('PEXPIRE', KEYS[k], expiry - now) end
    end
  end
end

if not allowed then reply[2] = 0 end
return reply
`;
