-- A GET of BENCH_PATH, with BENCH_AUTH as the Authorization header when set.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")

wrk.method = "GET"
wrk.path = c.env("BENCH_PATH")
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

done = c.done
