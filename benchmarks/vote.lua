-- Vote POSTs: each one a new reader (no voter token) with a never-used captcha
-- token PASS-<tag>-<thread>-<n>, spread over many articles, two thirds "up",
-- from many client addresses (X-Forwarded-For; the servers trust 127.0.0.1 as
-- their proxy), as a burst from many readers would arrive.
-- wrk -s vote.lua URL -- TAG ARTICLES ORIGIN
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local tag, articles, headers
local n = 0

function init(args)
  tag = args[1] or tostring(os.time())
  articles = tonumber(args[2] or "1000")
  headers = {
    ["Content-Type"] = "application/json",
    ["Origin"] = args[3] or "https://news.example",
  }
end

function request()
  n = n + 1
  local article = (id * 7919 + n * 104729) % articles
  local body = string.format(
    '{"article_id":"bench-%d","vote":"%s","title":"Article %d","captcha_token":"PASS-%s-%d-%d"}',
    article, (n % 3 == 0) and "down" or "up", article, tag, id, n)
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", id, math.floor(n / 250) % 250, n % 250 + 1)
  return wrk.format("POST", "/api/v1/votes", headers, body)
end
