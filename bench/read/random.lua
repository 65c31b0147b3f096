-- Warm: a random user on every request, uniform over 1..READ_USERS.
package.path = os.getenv("READ_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local users = tonumber(os.getenv("READ_USERS"))
local interval = os.getenv("READ_INTERVAL")
setup = common.setup
done = common.done

function init(args)
  math.randomseed(os.time() * 100 + tid)
end

function request()
  return wrk.format("GET", "/api/users/" .. math.random(1, users) .. "/asset-series" .. common.query(interval))
end
