"""What a citizen is told, in Simplified Chinese and English, for each event they must know
of. Only what the event carries is used: masked or coded data, never a name or ID number."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contracts.activation import ACTIVATION_CHANNELS

Language = str  # BCP 47: "zh-Hans" or "en"

CHANNELS: dict[str, tuple[str, str]] = {
    name: rule.shown_as for name, rule in ACTIVATION_CHANNELS.items()
}
REPLACEMENT_REASONS = {
    "loss": ("挂失补卡", "replacement of a lost card"),
    "expiry": ("到期换卡", "expiry"),
    "damage": ("损坏换卡", "damage"),
    "name_change": ("姓名变更", "a change of name"),
    "id_number_change": ("证件号码变更", "a change of ID number"),
    "bank_change": ("更换银行", "a change of bank"),
    "move": ("迁移", "a move"),
}


@dataclass(frozen=True)
class Template:
    """One message type: its name, whether law or safety require it, and its two texts."""

    name: str
    required: bool
    zh: Callable[[dict[str, Any]], str]
    en: Callable[[dict[str, Any]], str]
    #: Channels it always goes by, whatever the person chose (a code by SMS only).
    channels: tuple[str, ...] | None = None

    def render(
        self, payload: dict[str, Any], language: Language, id_tail: str | None = None
    ) -> str:
        """The text in a language (Simplified Chinese unless English is asked for), addressed
        to the holder by the last four characters of the ID number, never more."""
        if language == "en":
            holder = f"ID ending {id_tail}: " if id_tail else ""
            return f"[Social Security] {holder}{self.en(payload)}"
        holder = f"尾号{id_tail}的参保人，" if id_tail else ""
        return f"【社会保障】{holder}{self.zh(payload)}"


def _channel(p: dict[str, Any], index: int) -> str:
    code = str(p.get("channel", ""))
    return CHANNELS.get(code, (code, code))[index]


def _card(p: dict[str, Any], index: int) -> str:
    electronic = p.get("card_kind") == "electronic"
    return (("电子社保卡", "electronic card") if electronic else ("社会保障卡", "card"))[index]


def _reason(p: dict[str, Any], index: int) -> str:
    code = str(p.get("reason", ""))
    return REPLACEMENT_REASONS.get(code, (code, code))[index]


#: Where a one-time code goes in a text: filled in only when the SMS is sent, so no code is
#: ever stored (the delivery log shows the placeholder).
CODE_PLACEHOLDER = "{sms_code}"

TEMPLATES: dict[str, Template] = {
    "SmsCodeIssued": Template(
        "sms_code",
        True,
        lambda p: (
            f"您的验证码为{CODE_PLACEHOLDER}，用于找回密码，5分钟内有效。"
            "请勿告诉他人，工作人员不会向您索要验证码。"
        ),
        lambda p: (
            f"Your code is {CODE_PLACEHOLDER}, to recover your password, valid for 5 minutes. "
            "Never share it: staff never ask for it."
        ),
        channels=("sms",),
    ),
    "IdentityVerificationFailed": Template(
        "verification_failed",
        True,
        lambda p: f"您的身份核验未通过（{p['reason']}）。如非本人操作，请尽快联系社保经办机构。",
        lambda p: (
            f"Your identity verification failed ({p['reason']}). If this was not you, "
            "contact your social insurance agency."
        ),
    ),
    "FaceVerificationLocked": Template(
        "face_verification_locked",
        True,
        lambda p: f"人脸识别失败次数过多，已锁定至 {p['locked_until'][:16]}（UTC）。",
        lambda p: (
            f"Face verification is locked until {p['locked_until'][:16]} UTC after too "
            "many failed attempts."
        ),
    ),
    "CardApplied": Template(
        "application_received",
        False,
        lambda p: f"您的社会保障卡申领已受理（参保地 {p['region']}），制卡后将通知您。",
        lambda p: (
            f"Your social security card application was received (region {p['region']});"
            " we will tell you when it is produced."
        ),
    ),
    "CardProductionFailed": Template(
        "production_failed",
        True,
        lambda p: f"您的社会保障卡制卡失败（{p['reason']}），请重新申领。",
        lambda p: f"Your card could not be produced ({p['reason']}); please apply again.",
    ),
    "CardMailed": Template(
        "card_mailed",
        False,
        lambda p: (
            f"您的社会保障卡已寄出：{p['courier']}，运单号 {p['tracking_number']}。"
            "收到后请及时启用。"
        ),
        lambda p: (
            f"Your card was mailed: {p['courier']}, tracking number "
            f"{p['tracking_number']}. Please activate it when it arrives."
        ),
    ),
    "CardReadyForPickup": Template(
        "ready_for_pickup",
        False,
        lambda p: f"您的社会保障卡已到达{p['branch']}，请携带身份证原件领取。",
        lambda p: f"Your card is ready for pick-up at {p['branch']}; bring your original ID card.",
    ),
    "CardActivated": Template(
        "card_activated",
        False,
        lambda p: (
            f"您的社会保障卡已通过{_channel(p, 0)}启用，医保账户恢复正常使用。"
            "首次结算前请修改初始密码。"
        ),
        lambda p: (
            f"Your card was activated at {_channel(p, 1)}; your medical insurance account "
            "works again. Change the initial password before your first settlement."
        ),
    ),
    "ECardClaimed": Template(
        "ecard_claimed",
        False,
        lambda p: f"您已领取电子社保卡（参保地 {p['region']}）。",
        lambda p: f"You claimed your electronic social security card (region {p['region']}).",
    ),
    "CardReportedLost": Template(
        "card_reported_lost",
        True,
        lambda p: (
            "您的社会保障卡已"
            + (
                "临时挂失，7日内未解挂将自动解除。"
                if p["kind"] == "temporary"
                else "正式挂失，请办理补卡。"
            )
        ),
        lambda p: (
            "Your card was reported lost "
            + (
                "temporarily; the report lapses by itself."
                if p["kind"] == "temporary"
                else "formally; please apply for a replacement."
            )
        ),
    ),
    "CardReplaced": Template(
        "replacement_issued",
        True,
        lambda p: (
            f"您的社会保障卡补换申请已受理（{_reason(p, 0)}，"
            f"费用 {p['fee_fen'] / 100:.2f} 元），原卡已停用。"
        ),
        lambda p: (
            f"Your replacement card is on its way ({_reason(p, 1)}, fee "
            f"{p['fee_fen'] / 100:.2f} yuan); the old card no longer works."
        ),
    ),
    "FamilyMemberLinked": Template(
        "family_member_linked",
        True,
        lambda p: f"您已添加一位亲情账户成员（{p['relation']}），其可代您办理相关业务。",
        lambda p: f"You linked a family member ({p['relation']}) who may now act for you.",
    ),
    "PasswordChanged": Template(
        "password_changed",
        True,
        lambda p: f"您的{_card(p, 0)}密码已修改。如非本人操作，请立即挂失并联系社保经办机构。",
        lambda p: (
            f"The password of your {_card(p, 1)} was changed. If this was not you, report "
            "the card lost and contact your social insurance agency at once."
        ),
    ),
    "PasswordLocked": Template(
        "password_locked",
        True,
        lambda p: (
            f"您的{_card(p, 0)}密码连续输错{p['failures']}次，已锁定至 "
            f"{str(p['locked_until'])[:16]}（UTC）。可凭身份证到窗口解锁或重置。"
        ),
        lambda p: (
            f"The password of your {_card(p, 1)} is locked until "
            f"{str(p['locked_until'])[:16]} UTC after {p['failures']} wrong entries. A window "
            "can unlock or reset it with your ID card."
        ),
    ),
    "PasswordReset": Template(
        "password_reset",
        True,
        lambda p: f"您的{_card(p, 0)}密码已重置。如非本人操作，请立即联系社保经办机构。",
        lambda p: (
            f"The password of your {_card(p, 1)} was reset. If this was not you, contact "
            "your social insurance agency at once."
        ),
    ),
}
