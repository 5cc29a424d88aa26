"""Plausible Chinese names, companies, addresses, plates and identifiers for the synthetic province.

Every function takes the run's ``numpy.random.Generator`` so the output is a function of the seed.
Identifiers carry correct check characters (GB 32100 USCI, GB 11714 organisation code, GB 11643 ID
number) unless the caller breaks them on purpose.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from etl.schemas.checksums import id_check_char, usci_check_char

__all__ = [
    "PROVINCE_ABBR",
    "SHIPPER_KINDS",
    "address",
    "company_name",
    "id_number",
    "person_name",
    "phone",
    "plate_number",
    "usci",
    "vin",
]

#: Plate prefix (简称) of each province, by 2-digit prefix of the division code.
PROVINCE_ABBR: dict[str, str] = {
    "11": "京",
    "12": "津",
    "13": "冀",
    "14": "晋",
    "15": "蒙",
    "21": "辽",
    "22": "吉",
    "23": "黑",
    "31": "沪",
    "32": "苏",
    "33": "浙",
    "34": "皖",
    "35": "闽",
    "36": "赣",
    "37": "鲁",
    "41": "豫",
    "42": "鄂",
    "43": "湘",
    "44": "粤",
    "45": "桂",
    "46": "琼",
    "50": "渝",
    "51": "川",
    "52": "贵",
    "53": "云",
    "54": "藏",
    "61": "陕",
    "62": "甘",
    "63": "青",
    "64": "宁",
    "65": "新",
}
# Plate letters of Anhui's cities (皖A 合肥 … 皖S 亳州); other provinces get letters in city-code order.
_ANHUI_LETTERS = {
    "3401": "A",
    "3402": "B",
    "3403": "C",
    "3404": "D",
    "3405": "E",
    "3406": "F",
    "3407": "G",
    "3408": "H",
    "3410": "J",
    "3411": "M",
    "3412": "K",
    "3413": "L",
    "3415": "N",
    "3416": "S",
    "3417": "R",
    "3418": "P",
}
_CITY_LETTERS = "ABCDEFGHJKLMNPQRS"
#: Company kinds of shippers and consignees (not transport firms).
SHIPPER_KINDS = (
    "商贸有限公司",
    "建材有限公司",
    "实业有限公司",
    "粮油有限公司",
    "钢铁贸易有限公司",
    "食品有限公司",
    "机械制造有限公司",
    "电器有限公司",
    "农产品有限公司",
    "化工有限公司",
)
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

_SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = list(
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
_FIRMS = list("华安顺通达宏远鑫盛恒泰兴隆运腾飞骏驰锦程万里长风瑞祥中联金利源丰大成嘉汇新力永信捷诚和裕天宇")
_COMPANY_KINDS = (
    "物流有限公司",
    "供应链管理有限公司",
    "运输有限公司",
    "物流科技有限公司",
    "网络科技有限公司",
    "货运有限公司",
)
_ROADS = (
    "长江",
    "黄山",
    "淮河",
    "金寨",
    "望江",
    "徽州",
    "花园",
    "人民",
    "建设",
    "解放",
    "工业",
    "创新",
    "科学",
    "繁华",
    "湖滨",
    "团结",
    "胜利",
    "光明",
    "兴业",
    "青年",
    "振兴",
    "和平",
    "文化",
    "富强",
    "开发",
)
_ROAD_KINDS = ("路", "大道", "街", "西路", "东路", "南路", "北路")
_PARKS = ("物流园", "工业园", "产业园", "仓储中心", "货运站", "批发市场", "开发区", "码头")
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _pick(rng: np.random.Generator, items) -> str:
    return items[int(rng.integers(len(items)))]


def person_name(rng: np.random.Generator) -> str:
    """Return a Chinese personal name of 2-3 characters."""
    n_given = 1 if rng.random() < 0.3 else 2
    return _pick(rng, _SURNAMES) + "".join(_pick(rng, _GIVEN) for _ in range(n_given))


def company_name(rng: np.random.Generator, place: str, *, kinds: tuple[str, ...] = _COMPANY_KINDS) -> str:
    """Return a company name like ``合肥鑫盛物流有限公司`` (`place` is a short city or county name)."""
    return place + _pick(rng, _FIRMS) + _pick(rng, _FIRMS) + _pick(rng, kinds)


def address(rng: np.random.Generator, prefix: str) -> str:
    """Return a street address under a division prefix, e.g. ``安徽省合肥市蜀山区长江西路88号``."""
    road = _pick(rng, _ROADS) + _pick(rng, _ROAD_KINDS)
    if rng.random() < 0.4:
        return f"{prefix}{road}{int(rng.integers(1, 999))}号{_pick(rng, _PARKS)}"
    return f"{prefix}{road}{int(rng.integers(1, 999))}号"


def phone(rng: np.random.Generator) -> str:
    """Return an 11-digit mobile number."""
    head = _pick(
        rng,
        (
            "139",
            "138",
            "137",
            "136",
            "135",
            "150",
            "151",
            "152",
            "158",
            "159",
            "186",
            "187",
            "188",
            "177",
            "180",
            "181",
            "189",
            "133",
            "153",
            "199",
        ),
    )
    return head + "".join(str(d) for d in rng.integers(0, 10, 8))


def _org_code(rng: np.random.Generator) -> str:
    body = "".join(_ORG_ALPHABET[i] for i in rng.integers(0, 10, 8))  # digits only, the common case
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _GB11714_WEIGHTS))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def usci(rng: np.random.Generator, county_code: str) -> str:
    """Return a valid 18-character unified social credit identifier registered in `county_code`."""
    first17 = "91" + county_code[:6] + _org_code(rng)
    return first17 + usci_check_char(first17)


def id_number(
    rng: np.random.Generator,
    county_code: str,
    *,
    birth_from: int = 1965,
    birth_to: int = 1998,
    valid: bool = True,
) -> str:
    """Return an 18-character citizen ID number; ``valid=False`` gives a wrong check character."""
    start = dt.date(birth_from, 1, 1).toordinal()
    birth = dt.date.fromordinal(start + int(rng.integers(0, (dt.date(birth_to, 12, 31).toordinal() - start))))
    seq = int(rng.integers(0, 500)) * 2 + 1  # odd sequence: male, as most truck drivers are
    first17 = f"{county_code[:6]}{birth:%Y%m%d}{seq:03d}"
    check = id_check_char(first17)
    if not valid:
        check = "0123456789X"[("0123456789X".index(check) + 1 + int(rng.integers(0, 9))) % 11]
    return first17 + check


def plate_number(
    rng: np.random.Generator, province_code: str, city_code: str, *, new_energy: bool = False
) -> str:
    """Return a plate like ``皖A3K729`` (``皖AD12345`` for new energy) for a vehicle of `city_code`."""
    abbr = PROVINCE_ABBR.get(province_code[:2], "皖")
    letter = (
        _ANHUI_LETTERS.get(city_code[:4])
        or _CITY_LETTERS[max(int(city_code[2:4]) - 1, 0) % len(_CITY_LETTERS)]
    )
    if new_energy:
        return abbr + letter + _pick(rng, "DF") + "".join(str(d) for d in rng.integers(0, 10, 5))
    tail = [_PLATE_CHARS[i] for i in rng.integers(0, len(_PLATE_CHARS), 5)]
    tail[0] = str(int(rng.integers(0, 10)))  # plates start with a digit more often than not
    return abbr + letter + "".join(tail)


def vin(rng: np.random.Generator) -> str:
    """Return a 17-character VIN-like string (manufacturer prefix of a Chinese truck maker)."""
    wmi = _pick(rng, ("LZZ", "LFW", "LGA", "LRD", "LJ1", "LFN", "LZG", "LGH"))
    body = "".join(_PLATE_CHARS[i] for i in rng.integers(0, len(_PLATE_CHARS), 14))
    return wmi + body
