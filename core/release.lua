-- release: delete the lock if our owner holds it with a nonce in a range.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix
-- ARGV[2]  the lowest nonce to release (16 hex digits)
-- ARGV[3]  the highest nonce to release
-- ARGV[4]  "0" not to announce the release: the cleanup of a failed round,
--          which leaves the lock as it found it (held by someone else, or
--          free on too few nodes to matter)
--
-- Unlock passes every nonce issued before it started, so that a release
-- still in flight never deletes a later acquisition of the same owner; the
-- cleanup of a failed round passes that round's nonce alone.
-- Returns 1 when the key was ours and is gone (and, unless ARGV[4] is "0",
-- publishes an empty message on the channel KEYS[1] .. ":released"), 0
-- otherwise.
local v = redis.call('GET', KEYS[1])
if v and #v == #ARGV[1] + 16 and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  local n = string.sub(v, #ARGV[1] + 1)
  if n >= ARGV[2] and n <= ARGV[3] then
    redis.call('DEL', KEYS[1])
    -- Wake the waiters of this lock (see core.Subscriber).
    if ARGV[4] ~= '0' then
      redis.call('PUBLISH', KEYS[1] .. ':released', '')
    end
    return 1
  end
end
return 0
