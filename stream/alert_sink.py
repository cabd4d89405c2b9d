"""Anomaly alerts into Redis: once each, merged per shop-wide event, the latest kept per id.

:func:`write_alerts` runs :data:`ALERT_LUA` once per alert (one pipelined round trip): an
alert event already seen is a no-op (a replay after a restart scores the same buckets again),
the rest go to the capped alerts stream, the alert's latest JSON to ``ALERTS_STATE`` (with its
acknowledgement, if any) and the alerts channel. The latest JSON of the newest
:data:`ALERTS_RESOLVED_KEPT` resolved alerts is kept, with their acknowledgements (a sorted
set of resolved ids by time, ``ALERTS_RESOLVED``); open ones always.
"""

from __future__ import annotations

from typing import Any

from contracts.pubsub import db_of, in_db
from contracts.wire import (
    ALERT_FIELD,
    ALERTS_ACKS,
    ALERTS_CHANNEL,
    ALERTS_GROUP,
    ALERTS_KEPT,
    ALERTS_RESOLVED,
    ALERTS_SEEN,
    ALERTS_STATE,
    ALERTS_STREAM,
    dumps,
)

__all__ = ["ALERT_LUA", "ALERTS_RESOLVED_KEPT", "CAN_PUBLISH", "SEEN_KEPT", "write_alerts"]

GROUP_TTL_S = 90 * 86400  #: how long the sink remembers the partitions of a group alert
# KEYS[1] seen event ids, KEYS[2] alerts stream, KEYS[3] latest message per alert id, KEYS[4]
# the stream-wide group of this kind and start (group alerts only); ARGV: event id, alert JSON,
# channel, max stream length, '1' for a group alert, resolved alerts kept; KEYS[5] the
# acknowledgements (an alert acknowledged through the gateway keeps its "ack" in its later
# messages), KEYS[6] the resolved alerts' ids by time (the oldest beyond the count kept leave
# KEYS[3] and KEYS[5]; an alert that is not resolved leaves KEYS[6]).
# A message is published once: a replay after a restart scores the same buckets again and gets
# the same event ids, which are then no-ops. The partitions' messages of one shop-wide event
# (same kind, same first bucket, so the same id) are merged: its state is open at the first
# partition's message, resolved when every partition that reported it has resolved, else
# updated; series_affected, active and usual are the sums of the partitions' latest counts
# (usual to one decimal), so the three describe the same partitions.
# The JSON published carries the stream id as "sid". A user who may not publish to the channel
# is refused before anything is written (CAN_PUBLISH, as a series write is: stream.sink).
#: Lua: refuse the script before it writes when its user may not publish to the channel in
#: ``ARGV[{channel}]`` (Redis 7's ``acl_check_cmd``; older servers have none and check nothing)
CAN_PUBLISH = """
if redis.acl_check_cmd and not redis.acl_check_cmd('PUBLISH', ARGV[{channel}], 'x') then
  return redis.error_reply('NOPERM this user may not publish to ' .. ARGV[{channel}])
end
"""
ALERT_LUA = f"""
{CAN_PUBLISH.format(channel=3)}
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
local body = ARGV[2]
if ARGV[5] == '1' then
  local a = cjson.decode(body)
  local raw = redis.call('GET', KEYS[4])
  local g = raw and cjson.decode(raw) or {{parts = {{}}, open = {{}}}}
  g.active, g.usual = g.active or {{}}, g.usual or {{}}
  local p = tostring(a.partition)
  g.parts[p], g.active[p], g.usual[p] = a.series_affected, a.active, a.usual
  if a.state == 'resolved' then g.open[p] = nil else g.open[p] = true end
  local open_n, total, n, active, usual = 0, 0, 0, 0, 0
  for _ in pairs(g.open) do open_n = open_n + 1 end
  for q, v in pairs(g.parts) do
    total, n = total + v, n + 1
    active, usual = active + (g.active[q] or 0), usual + (g.usual[q] or 0)
  end
  local state = 'updated'
  if not raw then state = 'open' elseif open_n == 0 then state = 'resolved' end
  redis.call('SET', KEYS[4], cjson.encode(g), 'EX', {GROUP_TTL_S})
  a.state, a.series_affected, a.partitions, a.partition = state, total, n, nil
  a.active, a.usual = active, math.floor(usual * 10 + 0.5) / 10
  body = cjson.encode(a)
end
local id = string.match(body, '"id":"([^"]+)"')
local ack = redis.call('HGET', KEYS[5], id)
if ack then body = string.sub(body, 1, -2) .. ',"ack":' .. ack .. '}}' end
local sid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', '{ALERT_FIELD}', body)
redis.call('HSET', KEYS[3], id, body)
if string.find(body, '"state":"resolved"', 1, true) then
  redis.call('ZADD', KEYS[6], tonumber(string.match(sid, '^(%d+)')), id)
  local over = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[6])
  if over > 0 then
    local old = redis.call('ZPOPMIN', KEYS[6], over)
    for i = 1, #old, 2 do
      redis.call('HDEL', KEYS[3], old[i])
      redis.call('HDEL', KEYS[5], old[i])
    end
  end
else
  redis.call('ZREM', KEYS[6], id)
end
body = string.sub(body, 1, -2) .. ',"sid":"' .. sid .. '"}}'
redis.call('PUBLISH', ARGV[3], body)
return 1
"""
#: resolved alerts whose latest JSON (and acknowledgement) the hashes keep, the newest: the
#: state of every alert was kept for ever (a soak: 183 more per 100k events, ~540 B each)
ALERTS_RESOLVED_KEPT = 20_000
SEEN_KEPT = 200_000  #: alert event ids remembered for dedup before the set is trimmed


async def write_alerts(redis: Any, script: Any, alerts: list[dict[str, Any]],
                       resolved_kept: int = ALERTS_RESOLVED_KEPT) -> int:
    """``alerts`` into Redis through ``script`` (:data:`ALERT_LUA`, registered on ``redis``);
    how many were new."""
    if not alerts:
        return 0
    pipe, channel = redis.pipeline(transaction=False), in_db(ALERTS_CHANNEL, db_of(redis))
    for a in alerts:
        group = a.get("scope") == "group"
        await script(
            keys=[ALERTS_SEEN, ALERTS_STREAM, ALERTS_STATE,
                  f"{ALERTS_GROUP}:{a['kind']}:{a['since']}" if group else ALERTS_SEEN,
                  ALERTS_ACKS, ALERTS_RESOLVED],
            args=[a.get("event_id", a["id"]), dumps(a), channel, ALERTS_KEPT,
                  "1" if group else "", resolved_kept],
            client=pipe)
    new = sum(int(r) for r in await pipe.execute())
    if await redis.scard(ALERTS_SEEN) > SEEN_KEPT:
        await redis.spop(ALERTS_SEEN, SEEN_KEPT // 2)  # bounded; old ids rarely replay
    return new
