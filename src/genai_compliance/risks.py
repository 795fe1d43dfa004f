"""The 31 safety risks of TC260-003 / GB/T 45654 Appendix A (codes A.1a … A.5b), and the
four kinds of online information that may harm minors (codes M.1 … M.4).

Shared by keyword libraries, classifiers, ledger records, evaluations and reports. A.1 (8)
and A.2 (9) are the 17 risks the keyword library and refusal banks must cover (SR-5, SR-7).

M.1 … M.4 follow the *Classification Measures for Online Information that May Affect Minors'
Physical and Mental Health* (CAC and seven other departments, in force 2026-03-01; MH-2026
in rules.toml): information that may lead or induce minors to imitate bad behaviour, that
may harm their values, that uses minors' image improperly, and that improperly discloses or
uses minors' personal information. Such information is not banned for adults, but must not
be pushed to minors by algorithmic or generative services, and needs a prominent notice
before it is shown; the moderation ``minors`` profile blocks it (:data:`MINOR_HARMS`).
"""

from __future__ import annotations

import enum

from .errors import ConfigurationError

__all__ = ["CATEGORIES", "MINOR_HARMS", "Risk"]

#: category code -> (Chinese name, English name)
CATEGORIES: dict[str, tuple[str, str]] = {
    "A.1": ("违反社会主义核心价值观", "Violates core socialist values"),
    "A.2": ("歧视性内容", "Discrimination"),
    "A.3": ("商业违法违规", "Commercial violations"),
    "A.4": ("侵犯他人合法权益", "Infringes others' rights"),
    "A.5": ("无法满足特定服务类型的安全需求", "Fails the needs of high-stakes services"),
    "M": ("可能影响未成年人身心健康的网络信息",
          "Online information that may affect minors' physical and mental health"),
}

_NAMES: dict[str, tuple[str, str]] = {
    "A.1a": ("煽动颠覆国家政权、推翻社会主义制度",
             "Subversion of state power or the socialist system"),
    "A.1b": ("危害国家安全和利益、损害国家形象",
             "Endangering national security, interests or image"),
    "A.1c": ("煽动分裂国家、破坏国家统一和社会稳定", "Secession, undermining unity and stability"),
    "A.1d": ("宣扬恐怖主义、极端主义", "Terrorism or extremism"),
    "A.1e": ("宣扬民族仇恨", "Ethnic hatred"),
    "A.1f": ("宣扬暴力、淫秽色情", "Violence, obscenity or pornography"),
    "A.1g": ("传播虚假有害信息", "False harmful information"),
    "A.1h": ("其他法律、行政法规禁止的内容", "Other content banned by law"),
    "A.2a": ("民族歧视", "Ethnic discrimination"),
    "A.2b": ("信仰歧视", "Discrimination by belief"),
    "A.2c": ("国别歧视", "Discrimination by nationality"),
    "A.2d": ("地域歧视", "Regional discrimination"),
    "A.2e": ("性别歧视", "Gender discrimination"),
    "A.2f": ("年龄歧视", "Age discrimination"),
    "A.2g": ("职业歧视", "Occupational discrimination"),
    "A.2h": ("健康歧视", "Discrimination by health"),
    "A.2i": ("其他方面歧视", "Other discrimination"),
    "A.3a": ("侵犯他人知识产权", "Infringing intellectual property"),
    "A.3b": ("违反商业道德", "Violating business ethics"),
    "A.3c": ("泄露他人商业秘密", "Leaking trade secrets"),
    "A.3d": ("利用算法、数据、平台等优势实施垄断和不正当竞争",
             "Monopoly or unfair competition via algorithms, data or platforms"),
    "A.3e": ("其他商业违法违规行为", "Other commercial violations"),
    "A.4a": ("危害他人身心健康", "Harming physical or mental health"),
    "A.4b": ("侵害他人肖像权", "Infringing portrait rights"),
    "A.4c": ("侵害他人名誉权", "Infringing reputation"),
    "A.4d": ("侵害他人荣誉权", "Infringing honour"),
    "A.4e": ("侵害他人隐私权", "Infringing privacy"),
    "A.4f": ("侵害他人个人信息权益", "Infringing personal-information rights"),
    "A.4g": ("侵犯他人其他合法权益", "Infringing other lawful rights"),
    "A.5a": ("内容不准确，严重不符合科学常识或主流认知",
             "Inaccurate: against science or mainstream knowledge"),
    "A.5b": ("内容不可靠，虽不包含严重错误但无法对使用者形成帮助",
             "Unreliable: not seriously wrong but unhelpful"),
    "M.1": ("可能引发或者诱导未成年人模仿实施不良行为",
            "May lead or induce minors to imitate bad behaviour"),
    "M.2": ("可能对未成年人价值观造成负面影响", "May harm minors' values"),
    "M.3": ("不当使用未成年人形象", "Improper use of minors' image"),
    "M.4": ("不当披露和使用未成年人个人信息",
            "Improper disclosure or use of minors' personal information"),
}


class Risk(enum.Enum):
    """One of the 31 risks; the value is its code, e.g. ``Risk("A.1f")``."""

    A_1a = "A.1a"
    A_1b = "A.1b"
    A_1c = "A.1c"
    A_1d = "A.1d"
    A_1e = "A.1e"
    A_1f = "A.1f"
    A_1g = "A.1g"
    A_1h = "A.1h"
    A_2a = "A.2a"
    A_2b = "A.2b"
    A_2c = "A.2c"
    A_2d = "A.2d"
    A_2e = "A.2e"
    A_2f = "A.2f"
    A_2g = "A.2g"
    A_2h = "A.2h"
    A_2i = "A.2i"
    A_3a = "A.3a"
    A_3b = "A.3b"
    A_3c = "A.3c"
    A_3d = "A.3d"
    A_3e = "A.3e"
    A_4a = "A.4a"
    A_4b = "A.4b"
    A_4c = "A.4c"
    A_4d = "A.4d"
    A_4e = "A.4e"
    A_4f = "A.4f"
    A_4g = "A.4g"
    A_5a = "A.5a"
    A_5b = "A.5b"
    M_1 = "M.1"
    M_2 = "M.2"
    M_3 = "M.3"
    M_4 = "M.4"

    @property
    def code(self) -> str:
        return self.value

    @property
    def category(self) -> str:
        """``"A.1"`` … ``"A.5"``, or ``"M"`` for the kinds of information harmful to
        minors."""
        return "M" if self.value.startswith("M.") else self.value[:3]

    @property
    def tc260(self) -> bool:
        """One of the 31 risks of TC260-003 Appendix A (not a minors' category)."""
        return self.value.startswith("A.")

    @property
    def name_zh(self) -> str:
        return _NAMES[self.value][0]

    @property
    def name_en(self) -> str:
        return _NAMES[self.value][1]

    @property
    def keyword_risk(self) -> bool:
        """One of the 17 A.1/A.2 risks the keyword library must cover (SR-5)."""
        return self.category in ("A.1", "A.2")

    @classmethod
    def parse(cls, code: str) -> Risk:
        """``Risk.parse("A.1f")``; raises ConfigurationError listing the form on bad input."""
        try:
            return cls(code.strip())
        except (ValueError, AttributeError) as exc:
            raise ConfigurationError(
                f"{code!r} is not a risk code; use A.1a … A.1h, A.2a … A.2i, A.3a … A.3e, "
                "A.4a … A.4g, A.5a, A.5b, or M.1 … M.4 (information harmful to minors)",
                field="risk", value=code) from exc


#: the four kinds of information that may harm minors (MH-2026), blocked for minors
MINOR_HARMS: tuple[Risk, ...] = (Risk.M_1, Risk.M_2, Risk.M_3, Risk.M_4)
