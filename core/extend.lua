-- extend: reset the TTL of a lock the owner holds; never re-create one.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix P
-- ARGV[2]  the new TTL in milliseconds
--
-- Returns 1 when the key was P's (see acquire.lua for its value) and now
-- lives ARGV[2] ms, 0 when it was missing or held by another owner.
--
-- Safe to repeat: a repeat resets the same TTL again.
local v = redis.call('GET', KEYS[1])
local p = ARGV[1]
if not v or #v < #p + 18 or string.sub(v, 1, #p) ~= p then return 0 end
local k = tonumber(string.sub(v, -2), 16)
if not k or #v ~= #p + 16 * k + 18 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
