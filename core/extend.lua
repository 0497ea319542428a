-- extend: reset the TTL of a lock the owner holds; never re-create one.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix P
-- ARGV[2]  the new TTL in milliseconds
-- ARGV[3]  the claim c of the holding being extended (see acquire.lua), or
--          "" to extend the owner's key whatever its claims
--
-- Returns 1 when the key was P's with c among its claims and now lives
-- ARGV[2] ms, 0 when it was missing, held by another owner, or not claimed
-- by c: a key that only a failed round claims, its undo on the way, must
-- not count for the holding.
--
-- Safe to repeat: a repeat resets the same TTL again.
local v = redis.call('GET', KEYS[1])
local p = ARGV[1]
if not v or #v < #p + 18 or string.sub(v, 1, #p) ~= p then return 0 end
local k = tonumber(string.sub(v, -2), 16)
if not k or #v ~= #p + 16 * k + 18 then return 0 end
local c = ARGV[3] or ''
if c ~= '' then
  local claimed = false
  for i = #p + 1, #p + 16 * k, 16 do
    if string.sub(v, i, i + 15) == c then claimed = true end
  end
  if not claimed then return 0 end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
