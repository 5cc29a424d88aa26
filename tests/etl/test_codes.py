"""Code tables shipped in data/codes and their lookup helpers."""

from __future__ import annotations

import csv

import pytest

from etl import codes


@pytest.mark.parametrize("table", codes.TABLES)
def test_every_table_file_has_header_unique_codes_and_names(table):
    with open(codes.CODES_DIR / f"{table}.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["code", "name"]
    body = rows[1:]
    assert body, table
    assert all(len(r) == 2 and r[0] and r[1] for r in body)
    assert len({r[0] for r in body}) == len(body), "duplicate code"
    assert len(codes.load_table(table)) == len(body)


@pytest.mark.parametrize(
    ("table", "size"),
    [
        ("plate_color", 10),
        ("transport_type", 8),
        ("business_type", 5),
        ("cargo_type", 20),
        ("payment_means", 9),
        ("energy_type", 12),
        ("insurance_company", 27),
        ("bank_code", 25),
        ("vehicle_class", 17),
    ],
)
def test_table_sizes_match_the_research_notes(table, size):
    assert len(codes.load_table(table)) == size


@pytest.mark.parametrize(
    ("table", "code", "name"),
    [
        ("plate_color", "2", "黄色"),
        ("plate_color", "94", "渐变绿"),
        ("transport_type", "1", "公路运输"),
        ("business_type", "1003998", "农村配送"),
        ("cargo_type", "0100", "煤炭及制品"),
        ("payment_means", "42", "微信支付"),
        ("vehicle_type", "H11", "重型普通货车"),
        ("vehicle_type", "H1J", "重型专门用途货车"),
        ("vehicle_type", "Q11", "重型半挂牵引车"),
        ("vehicle_type", "B1W", "重型中置轴普通挂车"),
        ("vehicle_type", "G4F", "微型特殊用途自卸全挂车"),
        ("vehicle_type", "X99", "其他"),
        ("energy_type", "C", "电(纯电驱动)"),
        ("insurance_company", "PICC", "人保"),
        ("insurance_company", "none", "未投保"),
        ("bank_code", "ICBK", "工商银行"),
        ("bank_code", "9999", "其他（如第三方支付牌照）"),
        ("vehicle_class", "A2", "牵引车"),
    ],
)
def test_name_of_known_codes(table, code, name):
    assert codes.is_code(table, code)
    assert codes.name_of(table, code) == name


@pytest.mark.parametrize(
    ("table", "value"),
    [
        ("plate_color", "6"),
        ("plate_color", 2),  # codes are strings; callers convert
        ("vehicle_type", "H36"),  # the GA 24 table has no light H36
        ("vehicle_type", "H1I"),  # letters I and O are never used
        ("vehicle_type", "h11"),
        ("bank_code", "ICBC"),  # 兆丰, not 工商银行
        ("insurance_company", "NONE"),
        ("vehicle_class", "B3"),
        ("cargo_type", "1800"),
    ],
)
def test_unknown_values_are_not_codes(table, value):
    assert not codes.is_code(table, value)
    assert codes.name_of(table, value) is None


def test_vehicle_type_ranges_are_expanded():
    table = codes.load_table("vehicle_type")
    assert {f"H1{i}" for i in range(1, 10)} <= table.keys()
    assert {f"B1{c}" for c in "ABCDEFGHJKL"} | {"B1V", "B1W"} <= table.keys()
    assert {f"G1{c}" for c in "ABCDEF"} <= table.keys()
    assert {"Q11", "Q12", "Q21", "Q22", "Q31", "Q32", "H5B", "H5C", "N11", "D11", "J13"} <= table.keys()
    assert len(table) == 247


def test_unknown_table_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="plate_color"):
        codes.load_table("plate_colour")
