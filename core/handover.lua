-- handover: pass the lock from one owner to another in one step.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the new owner's prefix
-- ARGV[2]  the new owner's round nonce
-- ARGV[3]  the new owner's TTL in milliseconds
-- ARGV[4]  the old owner's prefix
-- ARGV[5]  the lowest nonce of the old owner to pass on
-- ARGV[6]  the highest nonce of the old owner to pass on
--
-- When the old owner holds the key with a nonce in the range, the key
-- becomes the new owner's (ARGV[1] .. ARGV[2], with the new TTL) and it
-- returns 1; otherwise it changes nothing and returns 0. The lock is never
-- free in between, so no release is announced.
local v = redis.call('GET', KEYS[1])
if v and #v == #ARGV[4] + 16 and string.sub(v, 1, #ARGV[4]) == ARGV[4] then
  local n = string.sub(v, #ARGV[4] + 1)
  if n >= ARGV[5] and n <= ARGV[6] then
    redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2], 'PX', ARGV[3])
    return 1
  end
end
return 0
