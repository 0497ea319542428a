-- inspect: read locks without changing them.
--
-- KEYS     pairs: a lock key, then its fencing counter (see acquire.lua),
--          for each lock read
--
-- Returns, for each pair in turn, three values: the value at the lock key
-- ("" when it is missing), its PTTL in milliseconds (-2 when it is
-- missing, -1 when it has no TTL), and the counter ("" when it is
-- missing). The value holds the owner prefix, the claims and the token
-- (see acquire.lua); the caller reads them, and never shows the owner ID.
--
-- Safe to repeat: it writes nothing.
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = redis.call('GET', KEYS[i]) or ''
  out[#out + 1] = redis.call('PTTL', KEYS[i])
  out[#out + 1] = redis.call('GET', KEYS[i + 1]) or ''
end
return out
