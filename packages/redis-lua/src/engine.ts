/**
 * The store engine in Lua: the same semantics as `@tollgate/core`'s `applyBatch` (see
 * packages/core/src/engine), run atomically inside Redis. Every counter of one identity is a field
 * of one hash (`KEYS[k]`), read with one HMGET and written with one HSET, and the hash carries a TTL
 * that covers its longest-lived counter. The conformance suite's differential test holds this to the
 * TypeScript engine's decisions, so a change to one must be made to the other.
 *
 * ARGV[1] is the batch as JSON (see `encodeBatch`); the reply is a flat integer array
 * `{ now, allowed, used, resetAt, retryAt, used, ... }` with one triple per charge and -1 for an
 * infinite retry time. Integers keep amounts exact: nothing passes through Lua's `tostring`.
 */
export const ENGINE_LUA = String.raw`
local batch = cjson.decode(ARGV[1])
local INF = math.huge
local META = '~e' -- the latest expiry of any counter in the hash

local now
if batch.n then
  now = batch.n
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Series: ascending keys (times, segments) with an amount at each.

local function count_below(keys, bound)
  local count = 0
  while count < #keys and keys[count + 1] < bound do count = count + 1 end
  return count
end

local function drop_first(state, kname, count)
  if count == 0 then return end
  local keys, amounts, nk, na = state[kname], state.a, {}, {}
  for i = count + 1, #keys do
    nk[#nk + 1] = keys[i]
    na[#na + 1] = amounts[i]
  end
  state[kname], state.a = nk, na
end

local function add_to_series(keys, amounts, key, amount)
  local n = #keys
  if n == 0 or keys[n] < key then
    keys[n + 1] = key
    amounts[n + 1] = amount
    return
  end
  local index = 1
  while keys[index] < key do index = index + 1 end
  if keys[index] == key then
    amounts[index] = amounts[index] + amount
  else
    table.insert(keys, index, key)
    table.insert(amounts, index, amount)
  end
end

local function take_from_series(keys, amounts, key, amount)
  for index = 1, #keys do
    if keys[index] == key then
      local taken = math.min(amount, amounts[index])
      amounts[index] = amounts[index] - taken
      if amounts[index] == 0 then
        table.remove(keys, index)
        table.remove(amounts, index)
      end
      return taken
    end
  end
  return 0
end

local function key_freeing(keys, amounts, excess)
  for i = 1, #keys do
    excess = excess - amounts[i]
    if excess <= 0 then return keys[i] end
  end
end

-- Algorithms. An algorithm is { type, limit, ... } as encodeBatch writes it.

local models = {}

models.log = {
  prune = function(st, alg)
    if not st then return nil end
    local expired = count_below(st.t, now - alg[3] + 1)
    if expired == #st.t then return nil end
    for i = 1, expired do st.s = st.s - st.a[i] end
    drop_first(st, 't', expired)
    return st
  end,
  used = function(st) return st and st.s or 0 end,
  expires = function(st, alg) return st.t[#st.t] + alg[3] end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    local excess = (st and st.s or 0) + need - alg[2]
    if not st or excess <= 0 then return now end
    return key_freeing(st.t, st.a, excess) + alg[3]
  end,
  add = function(st, alg, amount)
    if not st then return { t = { now }, a = { amount }, s = amount } end
    add_to_series(st.t, st.a, now, amount)
    st.s = st.s + amount
    return st
  end,
  refund = function(st, alg, amount, at)
    if not st then return nil end
    st.s = st.s - take_from_series(st.t, st.a, at, amount)
    if #st.t == 0 then return nil end
    return st
  end,
}

local function segment_end(i, alg) return (i + 1) * alg[4] + alg[3] end

models.window = {
  prune = function(st, alg)
    if not st then return nil end
    local expired = count_below(st.i, math.floor((now - alg[3]) / alg[4]))
    if expired == #st.i then return nil end
    drop_first(st, 'i', expired)
    return st
  end,
  used = function(st)
    local sum = 0
    if st then for _, amount in ipairs(st.a) do sum = sum + amount end end
    return sum
  end,
  expires = function(st, alg) return segment_end(st.i[#st.i], alg) end,
  retry = function(st, alg, need)
    if need > alg[2] then return INF end
    local excess = models.window.used(st) + need - alg[2]
    if not st or excess <= 0 then return now end
    return segment_end(key_freeing(st.i, st.a, excess), alg)
  end,
  add = function(st, alg, amount)
    local segment = math.floor(now / alg[4])
    if not st then return { i = { segment }, a = { amount } } end
    add_to_series(st.i, st.a, segment, amount)
    return st
  end,
  refund = function(st, alg, amount, at)
    if not st then return nil end
    take_from_series(st.i, st.a, math.floor(at / alg[4]), amount)
    if #st.i == 0 then return nil end
    return st
  end,
}

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

models.bucket = {
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
}

-- A calendar algorithm is { 'calendar', limit, start1, start2, ... }: consecutive period starts.
local function current_period(alg)
  for i = 3, #alg - 1 do
    if alg[i] <= now and now < alg[i + 1] then return alg[i], alg[i + 1] end
  end
  error("the store's time is outside the calendar periods the limiter sent: the limiter's clock and Redis's disagree by more than a period")
end

models.calendar = {
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
}

-- Slots: lease id -> expiry. An algorithm is { 'slots', limit, ttlMs }.
models.slots = {
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
}

local function reset_at(model, st, alg)
  if model.reset then return model.reset(st, alg) end
  if st then return model.expires(st, alg) end
  return now
end

-- Load every field the batch names, one HMGET per key.

local fields, states, dirty = {}, {}, {}
local function want(k, f)
  fields[k] = fields[k] or { META }
  for _, known in ipairs(fields[k]) do if known == f then return end end
  table.insert(fields[k], f)
end
for _, charge in ipairs(batch.c) do want(charge.k, charge.f) end
for _, adjustment in ipairs(batch.j) do want(adjustment.k, adjustment.f) end

local meta = {}
for k, names in pairs(fields) do
  local values = redis.call('HMGET', KEYS[k], unpack(names))
  states[k] = {}
  dirty[k] = {}
  meta[k] = tonumber(values[1]) or 0
  for i = 2, #names do
    if values[i] then states[k][names[i]] = cmsgpack.unpack(values[i]) end
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

if allowed and batch.d == 0 then
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
  for k, changed in pairs(dirty) do
    local set, gone = {}, {}
    local expiry = meta[k]
    for f, alg in pairs(changed) do
      local st = states[k][f]
      if st then
        set[#set + 1] = f
        set[#set + 1] = cmsgpack.pack(st)
        expiry = math.max(expiry, models[alg[1]].expires(st, alg))
      else
        gone[#gone + 1] = f
      end
    end
    if #gone > 0 then redis.call('HDEL', KEYS[k], unpack(gone)) end
    if #set > 0 then
      set[#set + 1] = META
      set[#set + 1] = expiry
      redis.call('HSET', KEYS[k], unpack(set))
      redis.call('PEXPIRE', KEYS[k], math.max(1, expiry - now))
    end
  end
end

if not allowed then reply[2] = 0 end
return reply
`;
