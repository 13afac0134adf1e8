//! The Lua scripts of the edge state. Each runs atomically in Redis, so a
//! check and the count it leads to cannot be split by another instance's
//! request (two instances cannot both take the last request of a quota).
//!
//! Limiter windows are hashes with the fields of
//! `portcullis_core::edge::window::Window`: `s` (the newest slot counted),
//! `w` (the window's length in seconds, to notice a policy change) and `0`
//! to `10` (the ring of counts); the arithmetic is the same, so a quota
//! means the same thing in process and in Redis.
//!
//! A caller's strikes are a hash: `count`, `since`, `level`, `last` (Unix
//! milliseconds) and, while blocked, the block's `bid`, `buntil`,
//! `bsince`, `blevel`, `breason` and `bsubject` (JSON). A realm's live
//! blocks are a sorted set of strike keys by end time, and each block's id
//! leads to its strike key, until the block ends.

/// Checks blocks, then leases units of every window or of none: a window
/// with room grants up to the units asked (at least one), counted at once
/// in its current slot.
///
/// KEYS: the strike keys of the request's subjects, then its windows' keys.
/// ARGV: now (ms), the number of strike keys, then each window's limit,
/// length in seconds and units asked.
///
/// Returns `{1, id, subject, reason, level, since, until}` for a live
/// block, `{2, index, retry_after_ms, reset_ms, slot}` for the first window
/// (1-based) that refuses, else `{0, granted, remaining, reset_ms, slot,
/// ...}` with four numbers per window (`remaining`: after the grant).
pub(crate) const ADMIT: &str = r#"
local now = tonumber(ARGV[1])
local ns = tonumber(ARGV[2])
for i = 1, ns do
  local b = redis.call('HMGET', KEYS[i], 'bid', 'buntil', 'bsubject', 'breason', 'blevel', 'bsince')
  if b[1] and tonumber(b[2]) > now then
    return {1, b[1], b[3], b[4], tonumber(b[5]), tonumber(b[6]), tonumber(b[2])}
  end
end
local RING = 11
local SLOTS = 10
local windows = {}
local n = #KEYS - ns
for j = 1, n do
  local key = KEYS[ns + j]
  local limit = tonumber(ARGV[3 * j])
  local secs = tonumber(ARGV[3 * j + 1])
  local want = tonumber(ARGV[3 * j + 2])
  local width = math.floor((secs * 1000 + SLOTS - 1) / SLOTS)
  local slot = math.floor(now / width)
  local v = redis.call('HMGET', key, 's', 'w', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10')
  local counts = {}
  local newest = tonumber(v[1])
  if newest == nil or tonumber(v[2]) ~= secs then
    newest = slot
    for k = 1, RING do counts[k] = 0 end
  else
    for k = 1, RING do counts[k] = tonumber(v[k + 2]) or 0 end
  end
  -- A clock that went back counts into the newest slot.
  if slot < newest then slot = newest end
  if slot > newest then
    if slot - newest >= RING then
      for k = 1, RING do counts[k] = 0 end
    else
      for s = newest + 1, slot do counts[(s % RING) + 1] = 0 end
    end
    newest = slot
  end
  local total = 0
  for k = 1, RING do total = total + counts[k] end
  local reset = (slot + RING) * width - now
  if total >= limit then
    local left = total
    local wait = 0
    for k = 0, RING - 1 do
      left = left - counts[((slot - SLOTS + k) % RING) + 1]
      wait = k + 1
      if left < limit then break end
    end
    local retry = (slot + wait) * width - now
    if retry < 1 then retry = 1 end
    return {2, j, retry, reset, slot}
  end
  local granted = math.min(want, limit - total)
  windows[j] = {key, slot, secs, counts, limit - total - granted, reset, width, granted}
end
local out = {0}
for j = 1, n do
  local w = windows[j]
  local at = (w[2] % RING) + 1
  w[4][at] = w[4][at] + w[8]
  local fields = {'s', w[2], 'w', w[3]}
  for k = 1, RING do
    fields[#fields + 1] = tostring(k - 1)
    fields[#fields + 1] = w[4][k]
  end
  redis.call('HSET', w[1], unpack(fields))
  redis.call('PEXPIRE', w[1], RING * w[7] + 1000)
  out[#out + 1] = w[8]
  out[#out + 1] = w[5]
  out[#out + 1] = w[6]
  out[#out + 1] = w[2]
end
return out
"#;

/// Counts strikes against a caller and blocks it at the threshold, for
/// escalating periods.
///
/// KEYS: the strike key, the realm's block set, the new block's id key.
/// ARGV: now, strikes, threshold, window (ms), how long escalation is
/// remembered (ms), the new block's id, subject (JSON) and reason, then the
/// lengths of successive blocks in seconds.
///
/// Returns `{0}`, or `{1, level, until}` when a block begins.
pub(crate) const STRIKE: &str = r#"
local now = tonumber(ARGV[1])
local strikes = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local memory = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'count', 'since', 'level', 'last', 'buntil')
if s[5] and tonumber(s[5]) > now then return {0} end
local count = tonumber(s[1]) or 0
local since = tonumber(s[2]) or now
local level = tonumber(s[3]) or 0
local last = tonumber(s[4]) or now
if now - last > memory then level = 0 end
if now - since > window then
  count = 0
  since = now
end
count = count + strikes
if count < threshold then
  redis.call('HSET', KEYS[1], 'count', count, 'since', since, 'level', level, 'last', now)
  redis.call('PEXPIRE', KEYS[1], math.max(window, memory) + 1000)
  return {0}
end
local lengths = #ARGV - 8
local secs = 60
if lengths > 0 then
  secs = tonumber(ARGV[9 + math.min(level, lengths - 1)])
end
level = level + 1
local untl = now + secs * 1000
redis.call('HDEL', KEYS[1], 'bid', 'buntil', 'bsubject', 'breason', 'blevel', 'bsince')
redis.call('HSET', KEYS[1], 'count', 0, 'since', now, 'level', level, 'last', untl,
  'bid', ARGV[6], 'buntil', untl, 'bsubject', ARGV[7], 'breason', ARGV[8],
  'blevel', level, 'bsince', now)
redis.call('PEXPIRE', KEYS[1], untl - now + memory + 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], untl, KEYS[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < untl - now + 1000 then redis.call('PEXPIRE', KEYS[2], untl - now + 1000) end
redis.call('SET', KEYS[3], KEYS[1], 'PX', untl - now + 1000)
return {1, level, untl}
"#;

/// A realm's live blocks.
///
/// KEYS: the realm's block set. ARGV: now.
///
/// Returns `{id, subject, reason, level, since, until, ...}`.
pub(crate) const BLOCKS: &str = r#"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local b = redis.call('HMGET', key, 'bid', 'buntil', 'bsubject', 'breason', 'blevel', 'bsince')
  if b[1] and tonumber(b[2]) > now then
    out[#out + 1] = b[1]
    out[#out + 1] = b[3]
    out[#out + 1] = b[4]
    out[#out + 1] = tonumber(b[5])
    out[#out + 1] = tonumber(b[6])
    out[#out + 1] = tonumber(b[2])
  end
end
return out
"#;

/// Lifts a live block of a realm by id; its escalation level is kept.
///
/// KEYS: the block's id key, the realm's block set. ARGV: now, the id, the
/// prefix of the realm's strike keys (a block of another realm is not
/// found).
///
/// Returns `{}` or `{subject, reason, level, since, until}`.
pub(crate) const LIFT: &str = r#"
local now = tonumber(ARGV[1])
local key = redis.call('GET', KEYS[1])
if not key or string.sub(key, 1, #ARGV[3]) ~= ARGV[3] then return {} end
local b = redis.call('HMGET', key, 'bid', 'buntil', 'bsubject', 'breason', 'blevel', 'bsince')
if b[1] ~= ARGV[2] or tonumber(b[2]) <= now then return {} end
redis.call('HDEL', key, 'bid', 'buntil', 'bsubject', 'breason', 'blevel', 'bsince')
redis.call('HSET', key, 'count', 0)
redis.call('ZREM', KEYS[2], key)
redis.call('DEL', KEYS[1])
return {b[3], b[4], tonumber(b[5]), tonumber(b[6]), tonumber(b[2])}
"#;
