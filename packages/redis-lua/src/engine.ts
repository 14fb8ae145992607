import { PROTOCOL_LUA } from './protocol.js';

/**
 * The store engine in Lua: the same semantics as `@tollgate/core`'s `applyBatch` (see
 * packages/core/src/store/engine), run atomically inside Redis. Every counter of one identity lives in
 * one hash (`KEYS[k]`), read with one HMGET and written with one HSET, and the hash carries a TTL
 * that covers its longest-lived counter. The conformance suite's differential test and
 * store-redis's engine test (batches the limiter does not build) hold this to the TypeScript
 * engine's decisions, so a change to one must be made to the other.
 *
 * Why it is written as it is: on a busy server the script's run time is the cost of a decision,
 * and what it spends most on is creating strings and tables, rehashing a table that outgrows its
 * size, and calls into C and into Redis (apps/bench/README.md has the figures). So the script is
 * one straight block with no function of its own (each would be a closure allocated on every call)
 * and no table per charge or per state: the batch arrives as one JSON array in `ARGV[1]` (one
 * `cjson.decode`), grouped by key and by counter (see `encodeBatch`), and each counter is handled
 * start to finish in one pass of four steps — load, read, change, store — with its state in local
 * variables. Tables are made at the size a one-key, one-charge decision fills, and whole parts of
 * positive numbers are taken as `q - q % 1` (exactly `math.floor(q)`, without the call).
 *
 * State layouts keep the bytes a decision creates small, since every byte read into Lua or built
 * there is paid for:
 * - Log and window counters (series of ascending keys, each with an amount, as big-endian
 *   doubles) keep a 32-byte header in the counter's field (sum, newest key and amount, oldest key)
 *   and the older entries in a body field (`<field>#`): a charge in the newest millisecond or
 *   segment rewrites the header only. A body longer than CAPACITY entries keeps its FRONT oldest
 *   and moves the rest to a spill key of its own (a string of entries, declared in KEYS, under the
 *   identity's hash tag, with its own TTL), read FRONT entries at a time as they expire and
 *   appended to in blocks: so a decision on a long exact log costs what it costs on a short one.
 *   The header of a series with a spill is 64 bytes: it adds the spill's live byte range and how
 *   many body entries come before it.
 * - Buckets and calendars are two and three doubles; slots a msgpack map.
 *
 * The batch applies only if every charge fits, and the script learns that only at the end; so each
 * counter is changed as though the batch will pass, and the new values are written (or dropped)
 * after the last counter. Counters are independent, so changing each in turn — its charges, then
 * its adjustments — is the same as the reference's all charges, then all adjustments.
 *
 * The reply is a flat integer array `{ now, allowed, used, resetAt, retryAt, used, ... }` with one
 * triple per charge, in the order the script meets them, and `NEVER` for an infinite retry time.
 * Integers keep amounts exact: nothing passes through Lua's `tostring`.
 *
 * The protocol's constants (counter kinds, adjustment codes, `COUNTED`, `CAPACITY`, `NEVER`) are
 * declared at the top from `protocol.ts`, which the encoder reads too.
 */
export const ENGINE_LUA = String.raw`
${PROTOCOL_LUA}
local HOLD = 0 -- a slot charge's operation, beside the adjustment codes: never sent, so any code they do not use
local FRONT = 8 -- spilled entries read back at a time
local INF = math.huge
local META = '~e' -- when the hash expires: at or after the latest expiry of any counter in it
local OUTSIDE = "the store's time is outside the calendar periods the limiter sent: the limiter's clock and Redis's disagree by more than a period"
local unpack_struct, pack_struct, sub, floor, ceil, max = struct.unpack, struct.pack, string.sub, math.floor, math.ceil, math.max

-- The batch (see encodeBatch in codec.ts); b[p] is the next value to read.
local b = cjson.decode(ARGV[1])
local now, dry, hashes = b[1], b[2], b[3]
if not now then -- no test clock: the server's
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + floor(tonumber(time[2]) / 1000)
end
local p = 4
local reply, r = { now, 1, 0, 0, 0 }, 2 -- room for one charge's reading
local allowed = true
-- What each hash key writes if the batch passes, one table per key: HSET arguments, fields to
-- delete (or false), the latest expiry among its written counters, the expiry it has, and how many
-- HSET arguments there are. Then the spill keys' writes, four values each: the key, where (-1:
-- replace it), what, until when.
local writes, spills = {}, nil

local next_spill = hashes + 1 -- spill keys follow the hash keys in KEYS, in the order met here

for key = 1, hashes do
  local m = b[p] -- the fields to read: each counter's, and a series' body field after its own
  local values = redis.call('HMGET', KEYS[key], META, unpack(b, p + 1, p + m))
  local names = p -- the field of values[v + 1] is b[names + v]
  p = p + m + 1
  -- (set: room for a counter's field and value and the expiry's; only set[1 .. n_set] are sent.)
  local set, n_set, gone, needed, meta = { false, false, false, false }, 0, false, 0, tonumber(values[1]) or 0

  local v = 1
  while v <= m do
    local value_at, raw, kind, limit = v + 1, values[v + 1], b[p], b[p + 1]
    local name = b[names + v]
    v = v + 1
    -- A counter with one charge and no adjustments (an acquire's, a check's) is sent without
    -- their counts; its kind is COUNTED more when they follow its parameters.
    local counted = kind > COUNTED
    if counted then kind = kind - COUNTED end
    -- Each kind's state, in locals, declared at once and set by the kind's load below. Series: see
    -- the layout above; body entries are body[from .. from + 16 * count - 1], the first front of them
    -- older than the spill's [head, tail) bytes, and extra holds entries appended by this batch.
    -- Bucket: tat, rem and held. Calendar: sum used in [start, finish). Slots: a table.
    local sum, span, segment, spill, newest, newest_amount, oldest, body_name, body_raw, body, from, count, front, head, tail, extra, body_changed, tat, rem, held, burst, start, finish, period_start, period_end, slots, count_slots, latest, ttl

    -- 1. Load: decode and drop what has expired by now.
    if kind == LOG or kind == WINDOW then
      -- A log is a window of 1 ms segments: its charge at t counts while now < t + windowMs, as
      -- segment i counts while now < (i + 1) * segmentMs + windowMs; so windowMs - 1 with 1 ms
      -- segments is the same rule, and one piece of code serves both.
      -- (One assignment each: a multiple assignment costs Lua two instructions per value.)
      sum = 0 span = b[p + 2] segment = 1 spill = 0 from = 1 count = 0 front = 0 head = 0 tail = 0 extra = ''
      if kind == WINDOW then segment = b[p + 3] p = p + 4 else p = p + 3 end
      -- Only what can outgrow the body has a spill key: a log, a window of more than CAPACITY segments.
      if kind == LOG or span / segment > CAPACITY then spill, next_spill = next_spill, next_spill + 1 end
      if kind == LOG then span = span - 1 end
      body_name, body_raw = b[names + v], values[v + 1]
      v = v + 1
      if raw then
        if #raw == 32 then
          sum, newest, newest_amount, oldest = unpack_struct('>dddd', raw)
        else -- 64 bytes: with a spill
          sum, newest, newest_amount, oldest, head, tail, front = unpack_struct('>ddddddd', raw)
        end
        if body_raw then body, count = body_raw, #body_raw / 16 end
        if head >= tail then front = count end
        local bound = (now - span) / segment -- entries with keys below it no longer count
        bound = bound - bound % 1
        if newest < bound then
          raw, sum = nil, 0 -- all of it, the spill too
        elseif oldest < bound then
          body_changed = true
          while true do
            if front > 0 then
              local k, amount = unpack_struct('>dd', body, from)
              if k >= bound then break end
              sum, from, front, count = sum - amount, from + 16, front - 1, count - 1
            elseif head < tail then
              -- The front is used up: the spill's next entries become the front.
              local chunk = redis.call('GETRANGE', KEYS[spill], head, head + 16 * FRONT - 1)
              if chunk == '' then tail = head else head = head + #chunk end -- an expired spill held nothing live
              body, from, front = chunk .. sub(body, from), 1, #chunk / 16
              count = count + front
              if head >= tail then head, tail, front = 0, 0, count end
            else
              break
            end
          end
        end
      end

    elseif kind == BUCKET then
      -- GCRA: the exact arrival time tat + rem / limit ms, in integers scaled by limit (ms x limit).
      span = b[p + 2] burst = b[p + 3] tat = 0 rem = 0 held = 0
      p = p + 4
      if raw then
        tat, rem = unpack_struct('>dd', raw)
        held = (tat - now) * limit + rem
        if held <= 0 then raw, held = nil, 0 end
      end

    elseif kind == CALENDAR then
      -- The algorithm is consecutive period starts around the limiter's clock; the store's own time
      -- picks the period.
      local periods = b[p + 2]
      sum = 0
      for i = p + 3, p + 1 + periods do
        if b[i] <= now and now < b[i + 1] then period_start, period_end = b[i], b[i + 1] break end
      end
      p = p + 3 + periods
      if raw then
        start, finish, sum = unpack_struct('>ddd', raw)
        if not (start <= now and now < finish) then raw, sum = nil, 0 end
      end

    else -- slots: lease id -> expiry
      ttl = b[p + 2] count_slots = 0 latest = now
      p = p + 3
      if raw then
        slots = cmsgpack.unpack(raw)
        for id, expiry in pairs(slots) do
          if expiry <= now then
            slots[id] = nil
          else
            count_slots = count_slots + 1
            if expiry > latest then latest = expiry end
          end
        end
        if count_slots == 0 then slots = nil end
      end
    end

    -- 2. Read: one reading per charge, of the state before the batch.
    local charges, adjusted, width = 1, 0, 1
    if counted then charges, adjusted = b[p], b[p + 1] p = p + 2 end
    if kind == SLOTS then width = 2 end -- a slot charge also names its lease
    local first_charge = p
    local charges_end = first_charge + charges * width
    local stop = charges_end + adjusted -- after the adjustments
    for q = first_charge, charges_end - 1, width do
      local need = b[q]
      if need < 1 then need = 1 end
      local used, reset_at, retry = sum, now, now
      if kind == LOG or kind == WINDOW then
        if raw then reset_at = (newest + 1) * segment + span end
        if need > limit then
          retry = INF
        elseif raw and sum + need > limit then
          -- When the oldest entries, dropped in order (front, spill, back, newest), free enough.
          local excess, found = sum + need - limit, nil
          local at, front_end, body_end = from, from + 16 * front, from + 16 * count
          while not found and at < front_end do
            local k, amount = unpack_struct('>dd', body, at)
            excess, at = excess - amount, at + 16
            if excess <= 0 then found = k end
          end
          if not found and head < tail then
            local spilled = redis.call('GETRANGE', KEYS[spill], head, tail - 1)
            for i = 1, #spilled, 16 do
              local k, amount = unpack_struct('>dd', spilled, i)
              excess = excess - amount
              if excess <= 0 then found = k break end
            end
          end
          while not found and at < body_end do
            local k, amount = unpack_struct('>dd', body, at)
            excess, at = excess - amount, at + 16
            if excess <= 0 then found = k end
          end
          retry = ((found or newest) + 1) * segment + span
        end
      elseif kind == BUCKET then
        used = 0
        if raw then
          used, reset_at = ceil(held / span), tat
          if rem > 0 then reset_at = tat + 1 end
        end
        if need > burst then
          retry = INF
        elseif held - (burst - need) * span > 0 then
          retry = now + ceil((held - (burst - need) * span) / limit)
        end
      elseif kind == CALENDAR then
        if not period_end then error(OUTSIDE) end
        reset_at = period_end
        if need > limit then retry = INF elseif sum + need > limit then retry = period_end end
      else
        used, reset_at = count_slots, latest
        if need > limit then
          retry = INF
        elseif count_slots + need > limit then
          local expiries = {}
          for _, expiry in pairs(slots) do expiries[#expiries + 1] = expiry end
          table.sort(expiries)
          retry = expiries[count_slots + need - limit]
        end
      end
      if retry > now then allowed = false end
      if retry == INF then retry = NEVER end
      reply[r + 1], reply[r + 2], reply[r + 3] = used, reset_at, retry
      r = r + 3
    end

    -- 3. Change, as though the batch passes: its charges (charged amounts are added, slots held),
    -- then its adjustments, in order. Skipped once anything refused: nothing will be written.
    local write = false
    local q = first_charge
    while allowed and not dry and q < stop do
      local op, amount, at, id = ADD, 0, 0, nil
      if q < charges_end then
        amount = b[q]
        if width == 2 then op, id = HOLD, b[q + 1] elseif amount <= 0 then op = nil end
        q = q + width
      else
        op = b[q]
        if op == ADD then amount = b[q + 1] q = q + 2
        elseif op == REFUND then amount, at = b[q + 1], b[q + 2] q = q + 3
        elseif op == RESET then q = q + 1
        else id = b[q + 1] q = q + 2 end
      end

      if op == RESET then
        raw, sum, held, slots, write = nil, 0, 0, nil, true
      elseif kind == LOG or kind == WINDOW then
        local k = now / segment
        if op == REFUND then k = at / segment end
        k = k - k % 1
        if op == ADD and not raw then
          -- A fresh series (whatever an expired one left behind is dropped on write).
          raw, sum, newest, newest_amount = true, amount, k, amount
          body, from, count, front, head, tail, extra, body_changed = nil, 1, 0, 0, 0, 0, '', true
        elseif op == ADD and k == newest then
          newest_amount, sum = newest_amount + amount, sum + amount
        elseif op == ADD and k > newest then
          extra, count = extra .. pack_struct('>dd', newest, newest_amount), count + 1
          if head >= tail then front = count end
          newest, newest_amount, sum, body_changed = k, amount, sum + amount, true
        elseif op == REFUND and raw and k == newest and newest_amount > amount then
          newest_amount, sum = newest_amount - amount, sum - amount
        elseif raw and (op == ADD or op == REFUND) then
          -- The rare cases (the clock stepped back; a refund of an older entry, or of all of the
          -- newest): gather the entries into one string, change it, and split it up again. A
          -- charge later than every spilled entry (on a Cluster, a decision stamped with another
          -- node's slightly slower clock) needs only the entries after the spill; anything else
          -- reads the spill back, and the store step spills again what is too long.
          local all, kept = extra .. pack_struct('>dd', newest, newest_amount), ''
          if body then
            local back = from + 16 * front -- where the entries after the spill start
            local after = newest
            if count * 16 > front * 16 + #extra then after = unpack_struct('>d', body, back) elseif extra ~= '' then after = unpack_struct('>d', extra) end
            if op == ADD and head < tail and k >= after then
              kept, all = sub(body, from, back - 1), sub(body, back) .. all
            else
              local spilled = ''
              if head < tail then spilled = redis.call('GETRANGE', KEYS[spill], head, tail - 1) end
              all, head, tail = sub(body, from, back - 1) .. spilled .. sub(body, back) .. all, 0, 0
            end
          end
          local i, last = 1, #all - 15
          while i < last and unpack_struct('>d', all, i) < k do i = i + 16 end
          local found, found_amount = unpack_struct('>dd', all, i)
          if op == ADD then
            if found == k then
              all = sub(all, 1, i - 1) .. pack_struct('>dd', k, found_amount + amount) .. sub(all, i + 16)
            else
              all = sub(all, 1, i - 1) .. pack_struct('>dd', k, amount) .. sub(all, i)
            end
            sum = sum + amount
          elseif found == k then
            -- Take up to amount from the charge's entry, dropping it once empty.
            local taken, rest = amount, ''
            if found_amount < taken then taken = found_amount end
            if found_amount > taken then rest = pack_struct('>dd', k, found_amount - taken) end
            all, sum = sub(all, 1, i - 1) .. rest .. sub(all, i + 16), sum - taken
          end
          if all == '' then
            raw, sum = nil, 0
          else
            newest, newest_amount = unpack_struct('>dd', all, #all - 15)
            body, from, extra, body_changed = kept .. sub(all, 1, #all - 16), 1, '', true
            count = #body / 16
            if head >= tail then front = count end
          end
        end
        if op == ADD or op == REFUND then write = true end
      elseif kind == BUCKET then
        if op == ADD or op == REFUND then
          if raw then
            held = (tat - now) * limit + rem
            if held < 0 then held = 0 end
          end
          if op == ADD then
            held = held + amount * span
          elseif raw then
            -- Only what has not drained since the charge can still be in the bucket.
            local refundable = amount * span - (now - at) * limit
            if refundable > 0 then held = held - refundable end
          end
          if held > 0 then
            raw, tat, rem = true, now + floor(held / limit), held % limit
          else
            raw, held = nil, 0
          end
          write = true
        end
      elseif kind == CALENDAR then
        if op == ADD then
          if not raw then
            if not period_end then error(OUTSIDE) end
            raw, start, finish, sum = true, period_start, period_end, 0
          end
          sum, write = sum + amount, true
        elseif op == REFUND then
          if raw and start <= at and at < finish then
            if amount > sum then amount = sum end
            sum = sum - amount
            if sum == 0 then raw = nil end
          end
          write = true
        end
      else
        if op == HOLD then
          slots = slots or {}
          slots[id] = now + ttl
          write = true
        elseif op == RELEASE then
          if slots then
            slots[id] = nil
            if next(slots) == nil then slots = nil end
          end
          write = true
        elseif op == TOUCH then
          if slots and slots[id] then slots[id] = now + ttl end
          write = true
        end
      end
    end
    p = stop

    -- 4. Store: the new encoding and its expiry, or the field's removal.
    if write then
      local value, expires
      if kind == LOG or kind == WINDOW then
        if raw then
          if body_changed then
            local entries = extra
            if body and from == 1 and count * 16 == #body + #extra then
              entries = body .. extra
            elseif body then
              entries = sub(body, from, from + 16 * count - #extra - 1) .. extra
            end
            if spill > 0 and count > CAPACITY then
              -- Too long for the hash: keep the oldest (the entries before a spill that has some),
              -- and move the rest to the end of the spill.
              local keep = front
              if head >= tail then keep = FRONT end
              local moved = sub(entries, 16 * keep + 1)
              local until_ms = (unpack_struct('>d', moved, #moved - 15) + 1) * segment + span
              spills = spills or {}
              local n = #spills
              spills[n + 1], spills[n + 2], spills[n + 3], spills[n + 4] = spill, head < tail and tail or -1, moved, until_ms
              if head < tail then tail = tail + #moved else head, tail = 0, #moved end
              entries, count, front = sub(entries, 1, 16 * keep), keep, keep
            end
            if count > 0 then
              oldest = unpack_struct('>d', entries)
              set[n_set + 1], set[n_set + 2], n_set = body_name, entries, n_set + 2
            else
              oldest = newest
              if body_raw then gone = gone or {} gone[#gone + 1] = body_name end
            end
          end
          if head < tail then
            value = pack_struct('>dddddddd', sum, newest, newest_amount, oldest, head, tail, front, 0)
          else
            value = pack_struct('>dddd', sum, newest, newest_amount, oldest)
          end
          expires = (newest + 1) * segment + span
        elseif body_raw then
          gone = gone or {}
          gone[#gone + 1] = body_name
        end
      elseif kind == BUCKET then
        if raw then
          value, expires = pack_struct('>dd', tat, rem), tat
          if rem > 0 then expires = tat + 1 end
        end
      elseif kind == CALENDAR then
        if raw then value, expires = pack_struct('>ddd', start, finish, sum), finish end
      elseif slots then
        value, expires = cmsgpack.pack(slots), 0
        for _, expiry in pairs(slots) do
          if expiry > expires then expires = expiry end
        end
      end
      if value then
        set[n_set + 1], set[n_set + 2], n_set = name, value, n_set + 2
        if expires > needed then needed = expires end
      elseif values[value_at] then
        gone = gone or {}
        gone[#gone + 1] = name
      end
    end
  end
  writes[key] = { set, gone, needed, meta, n_set }
end

-- Write back only if every charge fits: one HSET (and HDEL for emptied counters) per key, and a TTL
-- covering them all. The TTL is set with a quarter of slack (at least a second), so busy keys are
-- not re-expired on every decision; idle state still disappears within 1.25x its lifetime. A spill
-- key's TTL covers its newest entry.
if allowed and not dry then
  for key = 1, hashes do
    local write = writes[key]
    local set, gone, needed, meta, n_set = write[1], write[2], write[3], write[4], write[5]
    if gone then redis.call('HDEL', KEYS[key], unpack(gone)) end
    if n_set > 0 then
      local expiry = meta
      if needed > expiry then
        expiry = needed + max(1000, floor((needed - now) / 4))
        set[n_set + 1], set[n_set + 2], n_set = META, expiry, n_set + 2
      end
      redis.call('HSET', KEYS[key], unpack(set, 1, n_set))
      if expiry ~= meta then redis.call('PEXPIRE', KEYS[key], expiry - now) end
    end
  end
  for i = 1, spills and #spills or 0, 4 do
    local spill, offset, moved, expiry = spills[i], spills[i + 1], spills[i + 2], spills[i + 3]
    if offset < 0 then
      redis.call('SET', KEYS[spill], moved, 'PX', max(1, expiry - now))
    else
      redis.call('SETRANGE', KEYS[spill], offset, moved)
      redis.call('PEXPIRE', KEYS[spill], max(1, expiry - now))
    end
  end
end

if not allowed then reply[2] = 0 end
if r == 2 then reply[3] = nil end -- no charges, no readings: the reply ends at its first nil
return reply
`;
