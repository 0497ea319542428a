-- acquire: take the lock for an owner, or refresh it for the owner that
-- holds it.
--
-- KEYS[1]  the lock key
-- KEYS[2]  with fencing only: the lock's fencing counter
-- ARGV[1]  the owner prefix P (the owner ID followed by "|")
-- ARGV[2]  the claim c: 16 hex digits, the round's nonce (mode 0 and 1)
--          or the claim of the holding being refreshed (mode 2)
-- ARGV[3]  the TTL in milliseconds
-- ARGV[4]  the mode: "0" take the lock, never refresh; "1" take it, or
--          refresh it if P holds it; "2" refresh the holding whose claim
--          is c (the caller holds the lock)
-- ARGV[5]  optional: "1" when the lock is contended, so that the key is
--          read before it is written (a refusal then costs one command);
--          otherwise a free lock is taken in one SET NX
--
-- The value at the lock key is P .. claims .. F .. k: the claims are k
-- nonces of 16 hex digits, one for each round of P that wrote the key and
-- was neither undone (undo.lua) nor released (release.lua) since; F is the
-- fencing token committed on the key (16 hex digits, zeros until one is,
-- see fence.lua); k is 2 hex digits. The key is deleted when its last
-- claim goes. A round's failed attempt thus takes away its own claim
-- only, never what another round of the owner wrote or refreshed.
--
-- Returns 1 when the key was free and is now P's with the single claim c
-- (the TTL set), 2 when P held it and refreshing is allowed (the TTL is
-- reset and c added to the claims), 0 when another owner holds it, or P
-- does in mode 0. With fencing it returns {that status, the counter (0
-- when missing), F when the key is now P's, else ""}.
--
-- Safe to repeat: a repeat finds c among the claims and returns 1 again
-- in modes 0 and 1 when c is the only claim (2 when other rounds have
-- joined since), and 2 in mode 2.
local p, c, mode = ARGV[1], ARGV[2], ARGV[4]
local status, token = 0, ''
local claims, f
local v = false
if ARGV[5] == '1' then
  v = redis.call('GET', KEYS[1])
  if not v then
    redis.call('SET', KEYS[1], p .. c .. '0000000000000000' .. '01', 'PX', ARGV[3])
    f, status = '0000000000000000', 1
  end
elseif redis.call('SET', KEYS[1], p .. c .. '0000000000000000' .. '01', 'NX', 'PX', ARGV[3]) then
  f, status = '0000000000000000', 1
else
  v = redis.call('GET', KEYS[1])
end
if v and #v >= #p + 18 and string.sub(v, 1, #p) == p then
  local k = tonumber(string.sub(v, -2), 16)
  if k and #v == #p + 16 * k + 18 then
    claims, f = string.sub(v, #p + 1, #p + 16 * k), string.sub(v, -18, -3)
  end
end
if claims then
  local held = false
  for i = 1, #claims, 16 do
    if string.sub(claims, i, i + 15) == c then held = true end
  end
  if held and mode ~= '2' then
    status = (#claims == 16) and 1 or 2
  elseif mode == '0' then
    status = 0
  else
    status = 2
  end
  if status ~= 0 then
    if not held then
      if #claims >= 16 * 255 then
        return redis.error_reply('redlock: too many claims on ' .. KEYS[1])
      end
      claims = claims .. c
    end
    redis.call('SET', KEYS[1], p .. claims .. f .. string.format('%02x', #claims / 16), 'PX', ARGV[3])
  end
end
if KEYS[2] then
  if status ~= 0 then token = f end
  return {status, tonumber(redis.call('GET', KEYS[2]) or '0'), token}
end
return status
