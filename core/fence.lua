-- fence: commit a fencing token where our owner still holds the lock.
--
-- KEYS[1]  the lock key
-- KEYS[2]  the lock's fencing counter (no TTL; same hash slot as KEYS[1])
-- ARGV[1]  the owner prefix
-- ARGV[2]  the token T: the counter becomes max(counter, T)
--
-- Returns 1 when the lock was ours and the counter is now at least T, 0
-- when the lock was missing or held by another owner (nothing changed).
local v = redis.call('GET', KEYS[1])
if v and #v == #ARGV[1] + 16 and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[2])
  end
  return 1
end
return 0
