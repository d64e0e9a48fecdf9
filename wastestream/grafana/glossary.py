"""The dispatcher's glossary: the Chinese and English words the dashboards, alerts and reports use,
and every panel's bilingual title (Chinese first, as a dispatch center reads it).

The lint (``wastestream.grafana.lint``) holds every panel to a title from here, so one word means
one thing on every screen.
"""

from __future__ import annotations

# term → (中文, English, what it means here)
TERMS: dict[str, tuple[str, str, str]] = {
    "clearance": ("清运", "clearance", "a collection point emptied by a truck on its local day"),
    "daily_clearance": ("日产日清", "cleared the same day", "what is produced today is cleared today"),
    "point": ("收集点", "collection point", "a place bins are set out; cleared once a local day"),
    "timed_stop": ("定时定点", "timed stop", "车到桶出: residents bring bins at a set time; a miss is critical"),
    "cleared": ("已清运", "cleared", "served inside its service window"),
    "late": ("迟清运", "late", "served after the window, before the deadline"),
    "missed": ("漏清运", "missed", "no service by the deadline"),
    "pending": ("待清运", "pending", "not served yet, deadline not passed"),
    "station": ("转运站", "transfer station", "where trucks unload; weighed in and out"),
    "weighbridge": ("地磅", "weighbridge", "the scale that weighs every truck in and out"),
    "tonnage": ("进站量", "in-tonnage", "net weight delivered to stations (inbound tickets)"),
    "transferred": ("转运量", "transferred", "net weight sent on from a station (outbound tickets)"),
    "backlog": ("积存量", "backlog", "received but not transferred by the day's end"),
    "capacity": ("设计规模", "capacity", "a station's rated tonnes a day"),
    "contractor": ("作业单位", "contractor", "the cleaning company contracted for routes and points"),
    "vehicle": ("车辆", "vehicle", "a collection or transfer truck with its JT/T 808 terminal"),
    "track": ("行驶轨迹", "track", "a vehicle's positions of the day in device-time order"),
    "visit": ("到点", "visit", "a stop of at least a minute, slowly, inside a site's fence"),
    "terminal": ("车载终端", "terminal", "the JT/T 808 GPS unit on a truck"),
    "silent": ("终端离线", "terminal silent", "sent nothing for 30 min with the ignition on, in shift"),
    "dark": ("终端未上线", "vehicle not heard", "due on a route and not heard 30 min after its start"),
    "backfill": ("盲区补传", "blind-area upload", "0x0704: fixes kept while out of network, sent later"),
    "dead_letter": ("死信", "dead letter", "input refused, kept with its raw bytes and the reason"),
    "data_quality": ("数据质量", "data quality", "counts of inputs that were wrong or doubtful"),
    "alert": ("告警", "alert", "raised when a rule is broken, resolved when it is mended"),
    "scorecard": ("考核", "scorecard", "a contractor's points by status and its clearance rate"),
    "complaint": ("投诉", "complaint", "a citizen's case (12345 hotline, 数字城管) about a point"),
    "catch_up": ("补收", "catch-up collection", "a collection after the deadline or after a valid complaint"),
    "violation": ("违规作业", "violation", "overspeed, off route, idling away from sites, out of shift, dumping"),
    "dumping": ("乱倾乱倒", "suspected dumping", "a loaded stop away from sites on a trip that delivered short"),
    "undelivered": ("有收无倒", "load not delivered", "collected, never weighed at a station"),
    "assessment": ("作业考核", "assessment", "the month's score of a contractor by the bureau's deduction table"),
    "deduction": ("扣分", "deduction", "points and fine of one occurrence, with its evidence"),
    "at_risk": ("清运预警", "at risk", "a stop predicted to be served after its window: warn while there is time"),
}

# panel key → (中文, English)
TITLES: dict[str, tuple[str, str]] = {
    "tonnage_in": ("进站量 (吨)", "In-tonnage (t)"),
    "tonnage_plan": ("计划量 (吨/日)", "Plan (t/day)"),
    "clearance_rate": ("清运率", "Clearance rate"),
    "status_counts": ("收集点状态", "Points by status"),
    "points_map": ("收集点清运状态", "Collection points by status"),
    "not_cleared": ("漏清与迟清", "Missed and late"),
    "station_balance": ("转运站收支 日产日清", "Stations: received, transferred, backlog"),
    "vehicles_seen": ("到点车辆", "Vehicles seen at sites"),
    "alerts_missed_timed": ("漏清定时点 (紧急)", "Missed timed stops (critical)"),
    "alerts_missed": ("漏清收集点", "Missed points"),
    "alerts_silent": ("终端离线", "Terminals silent in shift"),
    "alerts_dark": ("终端未上线", "Vehicles due, not heard"),
    "alerts_at_risk": ("清运预警", "Stops at risk of a late or missed clearance"),
    "c_tonnage": ("进站量 (吨)", "Tonnage delivered (t)"),
    "c_scorecard": ("考核: 收集点状态", "Scorecard: points by status"),
    "c_rate_trend": ("每日清运率 (%)", "Clearance rate by day (%)"),
    "c_tonnage_trend": ("每日进站量 (公斤)", "Tonnage by day (kg)"),
    "c_points_map": ("我的收集点", "My points by status"),
    "c_complaints": (
        "投诉: 件数、有效、待补收、平均处置时长",
        "Complaints: cases, valid, open, mean minutes to resolve",
    ),
    "complaints_open": ("待补收投诉", "Complaints awaiting catch-up collection"),
    "violations_by_kind": ("违规作业 (按类别)", "Operating violations by kind"),
    "c_violations": ("违规作业明细", "My vehicles' violations (kind, vehicle, time, place)"),
    "c_assessment": ("考核得分 (按日累计)", "Assessment: running score by day"),
    "v_day": ("车辆日报: 里程、工时、趟次、吨公里", "Vehicle day: km, engine hours, trips, t/km"),
    "s_in_out": ("每日进出站量 (公斤)", "In / out by day (kg)"),
    "s_balance": ("收支、日产日清与设计规模", "Balance, same-day clearance and capacity"),
    "v_track": ("行驶轨迹与到点", "Track of the day and its visits (narrow the time range to replay)"),
    "v_visits": ("到点记录", "Visits (enter time, site, dwell)"),
    "v_tonnage": ("交付量与磅单", "Delivered (kg) and tickets"),
    "q_by_kind": ("数据质量事件", "Data quality events by kind"),
    "q_dead_letters": ("死信 (按原因)", "Dead letters by reason"),
    "q_silent": ("班内终端离线", "Terminals silent in shift (episodes > 30 min, ignition on)"),
    "q_dark": ("未按时上线车辆", "Vehicles due on a route, not heard 30 min after its start"),
    "q_unknown_terminals": ("未登记终端", "Unregistered terminals (register them)"),
    "q_no_dwell": ("无到站轨迹的进站磅单", "Inbound tickets with no GPS dwell of the truck at the station"),
}


def title(key: str) -> str:
    zh, en = TITLES[key]
    return f"{zh} {en}"
