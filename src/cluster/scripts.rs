//! The Lua scripts that make every shared decision one atomic step in
//! Redis, so N replicas checking and counting at once can never together
//! pass a credential's limit.
//!
//! Time comes from Redis (`TIME`), not from the replicas, so clock skew
//! between replicas cannot widen a window. Windows are per-second buckets in
//! a hash (field = Unix second, value = count): a bucket counts until it is
//! certainly more than 60 s old, so the window is 60–61 s long and errs on
//! the side of the provider's limit. Buckets make settling a token estimate
//! one `HINCRBY` of the difference, with no per-request bookkeeping.

use std::sync::LazyLock;

/// Breaker admission plus round-robin over the provider's credentials:
/// counts the request (and the token estimate) against the first credential
/// that is not cooling down and whose windows have room.
///
/// KEYS: breaker hash, then per credential: requests hash, tokens hash,
/// cooldown key. ARGV: probe lease ms, token estimate, start offset, n, then
/// per credential: rpm (0: none), tpm (0: none), skip (1: tried already).
///
/// Returns `{index, wait_ms, bucket, probe}`; index -1: circuit open,
/// -2: no credential free now; `wait_ms` says for how long.
pub static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000 + math.floor(tonumber(t[2]) / 1000)

local probe = 0
local b = redis.call('HMGET', KEYS[1], 'open_until', 'probe_until')
if b[1] then
  local open_until = tonumber(b[1])
  if now < open_until then return {-1, open_until - now, 0, 0} end
  if b[2] and now < tonumber(b[2]) then return {-1, 1000, 0, 0} end
  probe = 1
end

-- Wait in ms until the window's total is below limit (0: room now).
local function window(key, limit)
  local vals = redis.call('HGETALL', key)
  local buckets, stale, sum = {}, {}, 0
  for i = 1, #vals, 2 do
    local s, v = tonumber(vals[i]), tonumber(vals[i + 1])
    if s <= sec - 61 then
      stale[#stale + 1] = vals[i]
    else
      buckets[#buckets + 1] = {s, v}
      sum = sum + v
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  if limit == 0 or sum < limit then return 0 end
  table.sort(buckets, function(x, y) return x[1] < y[1] end)
  for _, bk in ipairs(buckets) do
    sum = sum - bk[2]
    if sum < limit then return math.max((bk[1] + 61) * 1000 - now, 1) end
  end
  return 1000
end

local estimate = tonumber(ARGV[2])
local start = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local soonest = -1
for k = 0, n - 1 do
  local i = (start + k) % n
  local a = 5 + i * 3
  local rpm, tpm, skip = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
  if skip == '0' then
    local kr = 2 + i * 3
    local wait = redis.call('PTTL', KEYS[kr + 2])
    if wait < 0 then wait = 0 end
    wait = math.max(wait, window(KEYS[kr], rpm), window(KEYS[kr + 1], tpm))
    if wait == 0 then
      redis.call('HINCRBY', KEYS[kr], sec, 1)
      redis.call('PEXPIRE', KEYS[kr], 122000)
      if tpm > 0 then
        redis.call('HINCRBY', KEYS[kr + 1], sec, estimate)
        redis.call('PEXPIRE', KEYS[kr + 1], 122000)
      end
      if probe == 1 then
        redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
      end
      return {i, 0, sec, probe}
    end
    if soonest < 0 or wait < soonest then soonest = wait end
  end
end
return {-2, soonest, 0, 0}
"#,
    )
});

/// An outcome: cooldown and strikes of the credential, and the provider's
/// breaker, mirroring [`crate::pool::breaker::Breaker`].
///
/// KEYS: breaker hash, cooldown key, strikes key. ARGV: outcome (`s`
/// success, `r` rate-limited, `e` server error, `u` unreachable),
/// retry-after ms (-1: none), breaker failures, breaker cooldown ms, backoff
/// jitter (ms per backoff second, 800–1200).
pub static REPORT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local o = ARGV[1]
if o == 's' or o == 'u' then
  redis.call('DEL', KEYS[3])
else
  local strikes = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], 600000)
  local wait = tonumber(ARGV[2])
  if o == 'e' or wait < 0 then
    local exp = math.min(strikes - 1, 6)
    wait = math.min(2 ^ exp, 60) * tonumber(ARGV[5])
  end
  wait = math.floor(wait)
  if wait >= 1 and redis.call('PTTL', KEYS[2]) < wait then
    redis.call('SET', KEYS[2], '1', 'PX', wait)
  end
end
if o == 's' or o == 'r' then
  redis.call('DEL', KEYS[1])
else
  local open_until = redis.call('HGET', KEYS[1], 'open_until')
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if open_until or failures >= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[4]))
    redis.call('HDEL', KEYS[1], 'probe_until')
  end
  redis.call('PEXPIRE', KEYS[1], 86400000)
end
return 1
"#,
    )
});

/// Replaces a token estimate with the reported usage: adds the difference
/// to the bucket it was counted in, unless that bucket has left the window.
///
/// KEYS: tokens hash. ARGV: bucket (Unix second), difference.
pub static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
end
return 0
"#,
    )
});

/// Hands Redis the counts of one window that it does not have (it restarted
/// empty, or this replica decided alone meanwhile): adds each weight to the
/// bucket of its age, skipping what is already outside the window.
///
/// KEYS: the window hash. ARGV: pairs of (age ms, weight).
pub static SEED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 1, #ARGV, 2 do
  local bucket = math.floor((now - tonumber(ARGV[i])) / 1000)
  if bucket > sec - 61 then
    redis.call('HINCRBY', KEYS[1], bucket, ARGV[i + 1])
    added = added + 1
  end
end
if added > 0 then redis.call('PEXPIRE', KEYS[1], 122000) end
return added
"#,
    )
});
