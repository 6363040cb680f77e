-- Anonymous tally reads, GET /api/v1/articles/{id}, spread over many articles.
-- wrk -s articles.lua URL -- ARTICLES ORIGIN
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local requests = {}
local n = 0

function init(args)
  local articles = tonumber(args[1] or "1000")
  local origin = args[2] or "https://news.example"
  local headers = { ["Origin"] = origin, ["Accept"] = "application/json" }
  for i = 1, articles do
    requests[i] = wrk.format("GET", "/api/v1/articles/bench-" .. (i - 1), headers)
  end
  n = math.random(articles)
end

function request()
  n = n % #requests + 1
  return requests[n]
end
