"""The dashboard's own words in Chinese (the default) and English; the twin's names are shown as written."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
DEFAULT_LANG: Lang = "zh"

# key -> (Chinese, English)
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("SafeTwin 安全数字孪生", "SafeTwin"),
    "nav.map": ("一张图", "Map"),
    "nav.orders": ("工单", "Work orders"),
    "nav.cameras": ("视频事件", "Camera events"),
    "nav.devices": ("设备列表", "Devices"),
    "operator": ("值班员", "Operator"),
    "operator.hint": ("输入姓名", "your name"),
    "assignee.hint": ("指派给", "assign to"),
    "lang.other": ("EN", "中文"),
    "sound.on": ("♪ 声音开", "♪ Sound on"),
    "sound.off": ("✕ 已静音", "✕ Muted"),
    "updated": ("更新于", "updated"),
    "kpi.emergency": ("紧急", "Emergency"),
    "kpi.alarm": ("报警", "Alarm"),
    "kpi.warning": ("预警", "Warning"),
    "kpi.online": ("设备在线率", "Devices online"),
    "kpi.closure": ("30天闭环率", "Closure rate (30 d)"),
    "kpi.mttc": ("平均处置时长", "Mean time to close"),
    "kpi.overdue": ("超期工单", "Overdue orders"),
    "kpi.key": ("重点监管单位", "Key supervision"),
    "alarms.title": ("实时告警", "Live alarms"),
    "alarms.none": ("当前没有告警", "No active alarms"),
    "alarms.off": ("告警服务未运行", "Alarms are not running in this SafeTwin"),
    "alarms.more": ("另有 {n} 条", "{n} more"),
    "col.severity": ("级别", "Severity"),
    "col.place": ("位置", "Place"),
    "col.rule": ("规则", "Rule"),
    "col.age": ("持续", "Age"),
    "col.state": ("状态", "State"),
    "col.assignee": ("处置人", "Assignee"),
    "ack": ("确认", "Ack"),
    "assign": ("指派", "Assign"),
    "acked": ("已确认", "acked"),
    "need.operator": ("请先在顶部输入值班员姓名", "Enter your name (Operator) at the top first"),
    "need.assignee": ("请先填写“指派给”", "Fill in “assign to” first"),
    "done.ack": ("已确认告警", "Alarm acknowledged"),
    "done.assign": ("已指派给 {who}", "Assigned to {who}"),
    "legend.normal": ("正常", "Normal"),
    "legend.space": ("受限空间/作业区", "Confined space / work zone"),
    "legend.camera": ("AI摄像机", "AI camera"),
    "map.hint": ("点击楼栋或点位查看详情", "Click a building or a point for details"),
    "emergency.banner": ("紧急告警", "EMERGENCY"),
    "back": ("← 返回一张图", "← Back to the map"),
    "floor": ("楼层", "Floor"),
    "outside": ("室外空间", "Outside buildings"),
    "confined": ("受限空间", "confined space"),
    "no.devices": ("没有设备", "No devices"),
    "no.data": ("无数据", "no data"),
    "threshold": ("阈值", "threshold"),
    "range": ("量程", "range"),
    "trend": ("趋势", "Trend"),
    "actuator": ("执行器状态", "Actuator"),
    "health.ok": ("在线", "online"),
    "health.offline": ("离线", "offline"),
    "health.unknown": ("未上线", "never seen"),
    "health.fault": ("故障", "fault"),
    "health.clock_off": ("时钟偏差", "clock off"),
    "orders.title": ("工单看板", "Work-order board"),
    "orders.none": ("没有工单", "No work orders"),
    "orders.left": ("剩余 {t}", "{t} left"),
    "orders.overdue": ("超期 {t}", "overdue {t}"),
    "orders.escalated": ("已升级 {n} 级 → {to}", "escalated {n} → {to}"),
    "cameras.title": ("视频事件", "Camera events"),
    "cameras.none": ("没有视频事件", "No camera events"),
    "cameras.off": ("视频分析未运行", "Video analytics are not running"),
    "trend.title": ("历史趋势", "History"),
    "trend.metric": ("指标", "Metric"),
    "trend.range": ("时间范围", "Range"),
    "trend.none": ("该时段没有数据", "No data in this range"),
    "api.error": ("无法读取 SafeTwin API：", "Cannot read the SafeTwin API: "),
    "notfound": ("没有这个页面", "No such page"),
    # actuator controls
    "ctl.open.panel": ("控制", "Control"),
    "ctl.nostate": ("尚未上报状态", "no state reported yet"),
    "ctl.running": ("运行中", "running"),
    "ctl.stopped": ("已停止", "stopped"),
    "ctl.open": ("已打开", "open"),
    "ctl.shut": ("已关断", "shut"),
    "ctl.playing": ("正在播放", "playing"),
    "ctl.silent": ("静默", "silent"),
    "ctl.speed": ("风速", "Speed"),
    "ctl.speed.n": ("{n} 档", "speed {n}"),
    "ctl.preset": ("预录语音", "Recorded message"),
    "ctl.preset.evacuate": ("紧急疏散", "Evacuate now"),
    "ctl.preset.keep_out": ("禁止进入", "Keep out"),
    "ctl.preset.ventilate": ("正在通风，请勿进入", "Ventilating, do not enter"),
    "ctl.preset.wear_helmet": ("请佩戴安全帽", "Wear your safety helmet"),
    "ctl.text": ("或输入喊话内容", "or type a message"),
    "ctl.text.hint": ("文字转语音播放", "spoken by text-to-speech"),
    "ctl.volume": ("音量 %", "Volume %"),
    "ctl.repeat": ("播放次数", "Times"),
    "ctl.hold": ("手动保持", "Hold"),
    "ctl.hold.once": ("一次性", "once"),
    "ctl.hold.min": ("{n} 分钟", "{n} min"),
    "ctl.reason": ("操作原因", "Reason"),
    "ctl.reason.hint": ("记录在指令中", "kept with the command"),
    "ctl.reason.default": ("指挥中心手动操作", "manual operation from the operations centre"),
    "ctl.fan-on": ("开启风机", "Fan on"),
    "ctl.fan-off": ("关闭风机", "Fan off"),
    "ctl.relay-on": ("接通", "Switch on"),
    "ctl.relay-off": ("断开", "Switch off"),
    "ctl.valve-open": ("打开阀门", "Open valve"),
    "ctl.valve-shut": ("关断阀门", "Shut valve"),
    "ctl.speaker-play": ("播放", "Play"),
    "ctl.speaker-stop": ("停止播放", "Stop"),
    "ctl.sent": ("指令已受理：{state}", "Command accepted: {state}"),
    "ctl.unavailable": (
        "此 SafeTwin 尚未开放设备控制（API 返回 404）：{detail}",
        "Device control is not available in this SafeTwin (the API answered 404): {detail}",
    ),
    "ctl.refused": ("指令被联锁拒绝：{detail}", "Refused by an interlock: {detail}"),
    "ctl.forbidden": ("无权操作：{detail}", "Not allowed: {detail}"),
    "ctl.failed": ("指令失败：{detail}", "Command failed: {detail}"),
    "ctl.notallowed": ("您的账号没有设备控制权限", "Your account may not command devices"),
    # floor view and 3D twin
    "floor.plan": ("楼层平面", "Floor plan"),
    "twin.3d": ("三维楼宇", "3D building"),
    "floor.pick": ("楼层", "Floor"),
    "floor.none": ("这一层没有设备", "No devices on this floor"),
    "twin.hint": ("拖动旋转，滚轮缩放", "Drag to turn, scroll to zoom"),
    "floor.hint": (
        "点击执行器打开控制，点击传感器查看趋势",
        "Click an actuator to control it, a sensor for its trend",
    ),
    "back.building": ("← 返回楼栋", "← Back to the building"),
    "legend.active": ("执行器运行/打开", "Actuator running / open"),
    # work-order steps
    "orders.note": ("处置说明", "What was done"),
    "orders.note.hint": ("提交核查前填写", "needed to submit for verification"),
    "orders.assignee": ("处置人", "Handler"),
    "step.sign": ("签收", "Sign for"),
    "step.assign": ("派单", "Assign"),
    "step.handle": ("提交核查", "Submit for verification"),
    "step.verify": ("核查通过", "Verified"),
    "step.reject": ("退回", "Send back"),
    "step.close": ("办结", "Close"),
    "step.done": ("工单 {id} → {state}", "Order {id} → {state}"),
    "need.note": ("请先填写“处置说明”", "Fill in “what was done” first"),
}

_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "severity": {
        "warning": ("预警", "warning"),
        "alarm": ("报警", "alarm"),
        "emergency": ("紧急", "emergency"),
    },
    "state": {
        "pending": ("待定", "pending"),
        "active": ("活动", "active"),
        "cleared": ("已消除", "cleared"),
        "no_data": ("无数据", "no data"),
        "error": ("错误", "error"),
        "created": ("已创建", "created"),
        "signed": ("已签收", "signed"),
        "assigned": ("已派单", "assigned"),
        "handled": ("已处置", "handled"),
        "verified": ("已核查", "verified"),
        "closed": ("已办结", "closed"),
    },
    "kind": {
        "co_sensor": ("一氧化碳探测器", "CO sensor"),
        "ch4_sensor": ("甲烷探测器", "methane sensor"),
        "h2s_sensor": ("硫化氢探测器", "H2S sensor"),
        "o2_sensor": ("氧气探测器", "O2 sensor"),
        "lel_sensor": ("可燃气体探测器", "combustible gas sensor"),
        "multi_gas": ("四合一气体探测器", "multi-gas detector"),
        "temp_humidity": ("温湿度传感器", "temperature / humidity"),
        "camera": ("AI摄像机", "AI camera"),
        "fan": ("排风机", "fan"),
        "speaker": ("广播音柱", "speaker"),
        "valve": ("切断阀", "valve"),
        "relay": ("继电器", "relay"),
        "panic_button": ("一键呼救", "panic button"),
        "access_reader": ("门禁", "access reader"),
    },
}


def t(key: str, lang: str, **fields: object) -> str:
    """The text of `key` in `lang` (Chinese unless 'en'), with `{fields}` filled in."""
    zh, en = _TEXT.get(key, (key, key))
    text = en if lang == "en" else zh
    return text.format(**fields) if fields else text


def word(group: str, value: str, lang: str) -> str:
    """A vocabulary word (severity, state, device kind) in `lang`; the value itself when unknown."""
    pair = _WORDS.get(group, {}).get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]


def lang_of(value: object) -> Lang:
    """The language a stored value names, Chinese by default."""
    return "en" if value == "en" else "zh"


_AGE_ZH = (
    (" s ago", " 秒前"),
    (" min ago", " 分钟前"),
    (" h ago", " 小时前"),
    (" d ago", " 天前"),
    ("never", "从未"),
)


def age_text(text: str, lang: str) -> str:
    """fmt_age's English ('12 s ago') in `lang`."""
    if lang == "en":
        return text
    for en, zh in _AGE_ZH:
        text = text.replace(en, zh)
    return text
