-- extend: reset the TTL of a lock our owner holds; never re-create one.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix
-- ARGV[2]  the new TTL in milliseconds
--
-- Returns 1 when the key was ours and now lives ARGV[2] ms, 0 when it was
-- missing or held by another owner.
local v = redis.call('GET', KEYS[1])
if v and #v == #ARGV[1] + 16 and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
