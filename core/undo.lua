-- undo: take back the claim of a round that failed.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the owner prefix P
-- ARGV[2]  the failed round's nonce n
--
-- Removes n from the key's claims (see acquire.lua) when the key is P's,
-- and deletes the key when no claim is left: what the round created goes,
-- what it only refreshed stays for the rounds that claim it. Returns 1
-- when it removed the claim, 0 otherwise. A deletion is not announced: the
-- lock was not held by the round.
--
-- Safe to repeat: a repeat finds the claim gone.
local v = redis.call('GET', KEYS[1])
local p, n = ARGV[1], ARGV[2]
if not v or #v < #p + 18 or string.sub(v, 1, #p) ~= p then return 0 end
local k = tonumber(string.sub(v, -2), 16)
if not k or #v ~= #p + 16 * k + 18 then return 0 end
local claims, rest, found = string.sub(v, #p + 1, #p + 16 * k), '', false
for i = 1, #claims, 16 do
  local c = string.sub(claims, i, i + 15)
  if c == n then found = true else rest = rest .. c end
end
if not found then return 0 end
if rest == '' then
  redis.call('DEL', KEYS[1])
else
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[1], p .. rest .. string.sub(v, -18, -3) .. string.format('%02x', #rest / 16), 'PX', math.max(ttl, 1))
end
return 1
