-- release: release what an owner took before the release began.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix P
-- ARGV[2]  the lowest nonce to release (16 hex digits)
-- ARGV[3]  the highest nonce to release
--
-- Removes from the key's claims (see acquire.lua), when the key is P's,
-- every claim from ARGV[2] to ARGV[3]. When none is left, it deletes the
-- key and publishes an empty message on KEYS[1] .. ":released" to wake
-- the waiters (see core.Subscriber). Unlock passes every nonce issued
-- before it started, so that a release still in flight never removes a
-- later acquisition or refresh of the same owner, whose claim keeps the
-- key. Returns 1 when it removed a claim, 0 otherwise.
--
-- Safe to repeat: a repeat finds the claims gone and returns 0, which
-- core counts as released for a repeated call.
local v = redis.call('GET', KEYS[1])
local p, lo, hi = ARGV[1], ARGV[2], ARGV[3]
if not v or #v < #p + 18 or string.sub(v, 1, #p) ~= p then return 0 end
local k = tonumber(string.sub(v, -2), 16)
if not k or #v ~= #p + 16 * k + 18 then return 0 end
local claims, rest = string.sub(v, #p + 1, #p + 16 * k), ''
for i = 1, #claims, 16 do
  local c = string.sub(claims, i, i + 15)
  if c < lo or c > hi then rest = rest .. c end
end
if rest == claims then return 0 end
if rest == '' then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[1] .. ':released', '')
else
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[1], p .. rest .. string.sub(v, -18, -3) .. string.format('%02x', #rest / 16), 'PX', math.max(ttl, 1))
end
return 1
