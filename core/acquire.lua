-- acquire: take the lock, or refresh it for its owner.
--
-- KEYS[1]  the lock key
-- KEYS[2]  with fencing only: the lock's fencing counter
-- ARGV[1]  the owner prefix (owner ID followed by "|")
-- ARGV[2]  this round's nonce: 16 hex digits, increasing within a host
-- ARGV[3]  the TTL in milliseconds
-- ARGV[4]  "1" when the owner may refresh a lock it holds, "0" when not
--
-- The stored value is ARGV[1] .. ARGV[2]. Returns 1 when the lock was free
-- and is now ours, 2 when our owner held it (the TTL is reset, and the value
-- carries the newer of the two nonces), 0 when another owner holds it.
-- With fencing, returns {that status, the node's fencing counter}.
local function reply(status)
  if KEYS[2] then
    return {status, tonumber(redis.call('GET', KEYS[2]) or '0')}
  end
  return status
end

if redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2], 'NX', 'PX', ARGV[3]) then
  return reply(1)
end
if ARGV[4] == '1' then
  local v = redis.call('GET', KEYS[1])
  if v and #v == #ARGV[1] + 16 and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
    -- Keep the newest nonce: a round that arrives late must not make a
    -- newer acquisition look old to a release of nonces up to its own.
    if string.sub(v, #ARGV[1] + 1) < ARGV[2] then
      redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2], 'PX', ARGV[3])
    else
      redis.call('PEXPIRE', KEYS[1], ARGV[3])
    end
    return reply(2)
  end
end
return reply(0)
