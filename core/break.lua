-- break: delete locks whatever their owner, for an operator.
--
-- KEYS     the lock keys
-- ARGV[1]  the fingerprint of the owner whose locks to delete (see
--          core.Fingerprint: the first 6 hex digits of the SHA-1 of the
--          owner ID, the value's prefix up to its first "|"), or "" for
--          any owner
--
-- Deletes each key that holds a lock of that owner (any value with ""),
-- and publishes an empty message on the key .. ":released" to wake the
-- waiters (see core.Subscriber). The fencing counters stay: the next
-- holder's token is higher than the broken holder's. Returns how many
-- keys it deleted.
--
-- Safe to repeat: a repeat finds the keys gone.
local n = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local match = v and ARGV[1] == ''
  if v and not match then
    local bar = string.find(v, '|', 1, true)
    match = bar ~= nil and string.sub(redis.sha1hex(string.sub(v, 1, bar - 1)), 1, 6) == ARGV[1]
  end
  if match then
    redis.call('DEL', key)
    redis.call('PUBLISH', key .. ':released', '')
    n = n + 1
  end
end
return n
