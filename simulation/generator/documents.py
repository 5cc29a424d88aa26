"""Build the wire payloads (spec/EXCHANGE.md §2) and registry records from the planned trips.

Money is computed in integer thousandths of a yuan and written as strings with 3 decimals, so
sums are exact. Times are epoch seconds internally and Beijing ``YYYYMMDDhhmmss`` on the wire.
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np

from etl.adapters.records import (
    DriverCertificateWire,
    InNetworkStatusWire,
    InsurancePolicyWire,
    MonthlyInvoiceTotalWire,
    OperatorLicenceWire,
    VehicleCertificateWire,
    WireRecord,
)
from geo.crs import wgs84_to_gcj02
from simulation.generator import names
from simulation.generator.timefmt import wire_date, wire_datetime
from simulation.generator.world import World, heavy

__all__ = ["Documents", "build_documents", "money", "registry"]

_CARGO = {
    "0100": ("原煤", "焦炭", "洗精煤"),
    "0400": ("螺纹钢", "热轧卷板", "钢管", "型钢"),
    "0500": ("砂石", "机制砂", "碎石"),
    "0600": ("散装水泥", "袋装水泥"),
    "1100": ("小麦", "稻谷", "玉米"),
    "1200": ("工程机械配件", "家用电器", "电机"),
    "1300": ("塑料颗粒", "纸浆", "化纤原料"),
    "1500": ("日用百货", "药品"),
    "1601": ("蔬菜", "水果"),
    "1602": ("冷冻肉类", "速冻食品"),
    "1700": ("快消品", "建材", "家具"),
}
_PACKAGED = {"1200", "1300", "1500", "1601", "1602", "1700"}
_BANKS = ("PCBC", "ICBK", "ABOC", "BKCH", "COMM", "CMBC", "PSBC", "CIBK", "FJIB", "SPDB")
_INSURERS = ("PICC", "PAIC", "CPIC", "CCIC", "GPIC", "TPIC", "YGBX")


def money(milli: int) -> str:
    """Format thousandths of a yuan as the wire's 3-decimal string.

    Examples
    --------
    >>> money(1234500), money(7)
    ('1234.500', '0.007')
    """
    return f"{milli // 1000}.{milli % 1000:03d}"


def _gcj(pt: tuple[float, float]) -> tuple[float, float]:
    lon, lat = wgs84_to_gcj02(pt[0], pt[1])
    return round(float(lon), 6), round(float(lat), 6)


class Documents:
    """All records of one run, ready to write (records carry operator, sendAt, payload)."""

    def __init__(self) -> None:
        self.waybills: list[dict] = []
        self.fund_flows: list[dict] = []
        self.vehicles: list[dict] = []
        self.drivers: list[dict] = []
        self.rejected: list[dict] = []  # {"file", "record", "trip"}: broken copies sent before the good one
        self.policies: list[dict] = []


def _record(op: dict, send_s: int, payload: dict) -> dict:
    return {
        "operator": op["unifiedSocialCreditIdentifier"],
        "sendAt": wire_datetime(send_s),
        "payload": payload,
        "_send_s": int(send_s),
    }


class _Builder:
    def __init__(self, rng: np.random.Generator, world: World, trips: list[dict]):
        self.rng, self.w, self.trips = rng, world, trips
        self.docs = Documents()
        self.shippers: dict[int, list[tuple[str, str]]] = {}
        self.plates = {v["vehicleNumber"] for v in world.vehicles}
        self.seq_counter = 0
        self.policies = self._policies()

    # ---- parties -------------------------------------------------------------------------------------

    def _policies(self) -> list[list[dict]]:
        rng, w = self.rng, self.w
        out = []
        for op in w.operators:
            mine = []
            for _ in range(int(rng.integers(1, 3))):
                company = _INSURERS[int(rng.integers(len(_INSURERS)))]
                start = w.config.start - dt.timedelta(days=int(rng.integers(10, 300)))
                mine.append(
                    {
                        "policyNumber": f"{company}{start:%Y}{op['countrySubdivisionCode']}"
                        f"{int(rng.integers(10**7, 10**8))}",
                        "insuranceCompanyCode": company,
                        "insured": op["name"],
                        "validFrom": f"{start:%Y%m%d}",
                        "validTo": f"{start + dt.timedelta(days=365):%Y%m%d}",
                    }
                )
            out.append(mine)
        return out

    def _shipper(self, p: int) -> tuple[str, str]:
        pool = self.shippers.setdefault(p, [])
        if len(pool) < 3 or self.rng.random() < 0.1:
            pl = self.w.places
            pool.append(
                (
                    names.company_name(self.rng, str(pl.short[p]), kinds=names.SHIPPER_KINDS),
                    names.usci(self.rng, str(pl.code[p])),
                )
            )
        return pool[int(self.rng.integers(len(pool)))]

    # ---- numbering -----------------------------------------------------------------------------------

    def number(self) -> None:
        groups: dict[int, list[dict]] = {}
        for t in self.trips:
            key = t["group"] if "source" not in t else -1 - t["id"]
            groups.setdefault(key, []).append(t)
        order = sorted(
            groups,
            key=lambda g: (
                groups[g][0]["op"],
                min(t["despatch_s"] for t in groups[g]),
                min(t["id"] for t in groups[g]),
            ),
        )
        seq = [0] * len(self.w.operators)
        for g in order:
            members = groups[g]
            op = members[0]["op"]
            seq[op] += 1
            day = wire_date(min(t["despatch_s"] for t in members))[2:]
            number = f"YD{op + 1:02d}{day}{seq[op]:06d}"
            original = f"DD{day}{int(self.rng.integers(10**9, 10**10))}"
            for t in members:
                t["shippingNoteNumber"], t["originalDocumentNumber"] = number, original
                t["group_members"] = members

    # ---- waybills ------------------------------------------------------------------------------------

    def _wire_parties(self, t: dict) -> None:
        """Vehicle and drivers as the waybill names them (a phantom for INTAKE_UNKNOWN_PARTY)."""
        rng, w = self.rng, self.w
        v = w.vehicles[t["veh"]]
        t["wire_vehicle"] = (v["vehicleNumber"], v["vehiclePlateColorCode"])
        t["wire_drivers"] = [
            (w.drivers[d]["driverName"], w.drivers[d]["drivingLicense"]) for d in t["drivers"]
        ]
        t["carrier"] = dict(v["_carrier"])
        if t["code"] == "INTAKE_UNKNOWN_PARTY":
            pl = w.places
            if t["detail"]["variant"] == "vehicle":
                plate = v["vehicleNumber"]
                while plate in self.plates:
                    plate = names.plate_number(rng, w.config.province, str(pl.code[v["_place"]]))
                self.plates.add(plate)
                t["wire_vehicle"] = (plate, v["vehiclePlateColorCode"])
                t["detail"]["vehicleNumber"] = plate
                if t.get("app") is None:
                    # Its only track is the real plate's BeiDou: under the phantom plate there is none at all.
                    t["detail"]["alsoExpected"] = ["TRACK_MISSING"]
            else:
                name, id_no = names.person_name(rng), names.id_number(rng, str(pl.code[v["_place"]]))
                t["wire_drivers"] = [(name, id_no)]
                t["detail"]["drivingLicense"] = id_no
                if t["carrier"]["actualCarrierId"] == w.drivers[t["drivers"][0]]["drivingLicense"]:
                    t["carrier"].update(actualCarrierName=name, actualCarrierId=id_no)

    def _group_content(self, members: list[dict]) -> dict:
        rng, pl = self.rng, self.w.places
        first = min(members, key=lambda t: (t["serial"], t["id"]))
        last = max(members, key=lambda t: (t["serial"], t["id"]))
        cargo = list(_CARGO)[int(rng.integers(len(_CARGO)))]
        consignor, consignor_id = self._shipper(first["load"])
        consignee, consignee_id = self._shipper(last["unload"])
        places = {}
        for t in members:
            for end in ("load", "unload"):
                p = t[end]
                if p not in places:
                    places[p] = names.address(rng, str(pl.prefix[p]))
        insured = rng.random() < 0.85
        policy = self.policies[first["op"]][int(rng.integers(len(self.policies[first["op"]])))]
        return {
            "cargo": cargo,
            "goods": _CARGO[cargo][int(rng.integers(len(_CARGO[cargo])))],
            "consignor": consignor,
            "consignorId": consignor_id,
            "consignee": consignee,
            "consigneeId": consignee_id,
            "places": places,
            "first": first,
            "last": last,
            "rate": float(rng.uniform(0.25, 0.55)),
            "consignment_s": min(t["despatch_s"] for t in members) - int(rng.integers(3600, 36 * 3600)),
            "insurance": {
                "policyNumber": policy["policyNumber"],
                "insuranceCompanyCode": policy["insuranceCompanyCode"],
            }
            if insured
            else {"policyNumber": "none", "insuranceCompanyCode": "none"},
            "business": "1002998"
            if rng.random() < 0.05
            else ("1003999" if rng.random() < 0.03 else "1002996"),
            "transport": "1" if rng.random() < 0.97 else str(int(rng.integers(2, 4))),
        }

    def _goods(self, t: dict, content: dict) -> dict:
        rng, w = self.rng, self.w
        v = w.vehicles[t["veh"]]
        kg = round(v["vehicleTonnage"] * 1000 * float(rng.uniform(0.55, 1.0)), 0)
        goods = {
            "descriptionOfGoods": content["goods"],
            "cargoTypeClassificationCode": content["cargo"],
            "goodsItemGrossWeight": f"{kg:.3f}",
        }
        if content["cargo"] in _PACKAGED:
            goods["cube"] = f"{kg / float(rng.uniform(250, 500)):.4f}"
            goods["totalNumberOfPackages"] = int(rng.integers(10, 800))
        km = float(w.places.dist_m[t["load"], t["unload"]]) / 1000 * 1.25
        # Light trucks charge more per tonne-kilometre (small loads, mostly regional runs).
        rate = content["rate"] * (3.0 if v["vehicleTonnage"] < 5 else 1.0)
        yuan = max(150.0, rate * kg / 1000 * km + float(rng.uniform(100, 300)))
        t["amount_milli"] = (
            int(round(yuan / 10)) * 10_000 if rng.random() < 0.4 else int(round(yuan * 100)) * 10
        )
        t["goods"] = goods
        return goods

    def waybill(self, t: dict, content: dict) -> dict:
        w, pl = self.w, self.w.places
        op = w.operators[t["op"]]
        if "clone_of" in t:
            src = self.trips[t["clone_of"]]
            goods, t["amount_milli"] = copy.deepcopy(src["goods"]), src["amount_milli"]
        else:
            goods = self._goods(t, content)
        despatch_s, receipt_s = t["despatch_s"], t["receipt_s"]
        consignment_s = min(content["consignment_s"], despatch_s - 1800)
        send_s = receipt_s + int(self.rng.integers(600, 8 * 3600))
        copied = t.get("effects", {}).get("copy_app_from")
        if copied is not None and "send_s" in self.trips[copied]:
            # A copied track's waybill is reported after its source's (RULES.md §1: the later one is the copy).
            send_s = min(max(send_s, self.trips[copied]["send_s"] + 600), receipt_s + 23 * 3600)
        send_to_pro_s = send_s - int(self.rng.integers(0, 60))
        code, detail = t["code"], t["detail"]
        if code == "INTAKE_LATE" and detail["variant"] == "waybill":
            send_s = receipt_s + int(detail["delayH"] * 3600)
            send_to_pro_s = send_s - int(self.rng.integers(0, 60))
        if code == "INTAKE_TIME_ORDER":
            v = detail["variant"]
            if v == "consignment_after_despatch":
                consignment_s = despatch_s + int(self.rng.integers(10, 121)) * 60
            elif v == "send_before_receipt":
                send_to_pro_s = receipt_s - int(self.rng.integers(30, 301)) * 60
            else:
                despatch_s, receipt_s = receipt_s, despatch_s
            detail.update(
                consignmentDateTime=wire_datetime(consignment_s),
                despatchActualDateTime=wire_datetime(despatch_s),
                goodsReceiptDateTime=wire_datetime(receipt_s),
                sendToProDateTime=wire_datetime(send_to_pro_s),
            )
        first, last = content["first"], content["last"]
        item = {
            "vehiclePlateColorCode": t["wire_vehicle"][1],
            "vehicleNumber": t["wire_vehicle"][0],
            "despatchActualDateTime": wire_datetime(despatch_s),
            "goodsReceiptDateTime": wire_datetime(receipt_s),
            "placeOfLoading": content["places"][t["load"]],
            "loadingCountrySubdivisionCode": str(pl.code[t["load"]]),
            "goodsReceiptPlace": content["places"][t["unload"]],
            "receiptCountrySubdivisionCode": str(pl.code[t["unload"]]),
            "driver": [{"driverName": n, "drivingLicense": i} for n, i in t["wire_drivers"]],
            "goodsInfo": [goods],
        }
        if t["coords"]:
            item["loadingLongitude"], item["loadingLatitude"] = _gcj(t["claim_load_pt"])
            item["receiptLongitude"], item["receiptLatitude"] = _gcj(t["claim_unload_pt"])
            item["coordinateSystem"] = "GCJ02"
        payload = {
            "originalDocumentNumber": t["originalDocumentNumber"],
            "shippingNoteNumber": t["shippingNoteNumber"],
            "serialNumber": t["serial"],
            "vehicleAmount": t["vehicle_amount"],
            "transportTypeCode": content["transport"],
            "sendToProDateTime": wire_datetime(send_to_pro_s),
            "carrier": op["name"],
            "unifiedSocialCreditIdentifier": op["unifiedSocialCreditIdentifier"],
            "permitNumber": op["permitNumber"],
            "consignmentDateTime": wire_datetime(consignment_s),
            "businessTypeCode": content["business"],
            "despatchActualDateTime": wire_datetime(despatch_s),
            "goodsReceiptDateTime": wire_datetime(receipt_s),
            "consignorInfo": {
                "consignor": content["consignor"],
                "consignorId": content["consignorId"],
                "placeOfLoading": content["places"][first["load"]],
                "countrySubdivisionCode": str(pl.code[first["load"]]),
            },
            "consigneeInfo": {
                "consignee": content["consignee"],
                "consigneeId": content["consigneeId"],
                "goodsReceiptPlace": content["places"][last["unload"]],
                "countrySubdivisionCode": str(pl.code[last["unload"]]),
            },
            "totalMonetaryAmount": money(t["amount_milli"]),
            "vehicleInfo": [item],
            "actualCarrierInfo": dict(t["carrier"]),
            "insuranceInformation": dict(content["insurance"]),
        }
        t["send_s"] = send_s
        rec = _record(op, send_s, payload)
        rec["_trip"] = t["id"]
        return rec

    # ---- fund flows ----------------------------------------------------------------------------------

    def _account(self, means: str) -> tuple[str, str | None]:
        rng = self.rng
        if means in ("4", "41", "42"):  # third-party payment: the account is the payee's phone number
            return names.phone(rng), None
        return "62" + "".join(str(d) for d in rng.integers(0, 10, 17)), _BANKS[int(rng.integers(len(_BANKS)))]

    def _sequence(self, at_s: int) -> str:
        self.seq_counter += 1
        return f"{wire_date(at_s)}{self.seq_counter:08d}{int(self.rng.integers(10**7, 10**8))}"

    def fund_flow(self, paid: list[dict], number: str) -> dict:
        rng, w = self.rng, self.w
        head = paid[0]
        op = w.operators[head["op"]]
        vehicle, colour = head["wire_vehicle"]
        carrier = dict(head["carrier"])
        code, detail = head["code"], head["detail"]
        if code == "MATCH_PARTY":
            mates = [v for v in w.vehicles if v["_op"] == head["op"] and v["_idx"] != head["veh"]] or [
                v for v in w.vehicles if v["_idx"] != head["veh"]
            ]
            other = mates[int(rng.integers(len(mates)))]
            if detail["variant"] == "vehicle":
                vehicle, colour = other["vehicleNumber"], other["vehiclePlateColorCode"]
                detail["fundFlowVehicle"] = vehicle
            else:
                carrier = dict(other["_carrier"])
                detail["fundFlowCarrier"] = carrier["actualCarrierName"]
        total = sum(t["amount_milli"] for t in paid)
        pay_total = total
        if code == "MATCH_AMOUNT":
            pay_total = int(round(total * (1 + detail["deviation"]) / 10)) * 10
            detail.update(waybillAmount=money(total), paidAmount=money(pay_total))
        last_receipt = max(t["receipt_s"] for t in paid)
        first_despatch = min(t["despatch_s"] for t in paid)
        means = str(rng.choice(["32", "32", "32", "32", "41", "42", "4", "3"]))
        account, bank = self._account(means)
        lines = []
        if rng.random() < 0.2 and pay_total > 2000_000:
            advance = int(round(pay_total * 0.3 / 10_000)) * 10_000
            lines.append((advance, first_despatch + int(rng.integers(0, 7200))))
            lines.append((pay_total - advance, last_receipt + int(rng.integers(2 * 3600, 72 * 3600))))
        else:
            lines.append((pay_total, last_receipt + int(rng.integers(2 * 3600, 72 * 3600))))
        fin = []
        for amount, at_s in lines:
            item = {
                "paymentMeansCode": means,
                "recipient": carrier["actualCarrierName"],
                "receiptAccount": account,
                "sequenceCode": self._sequence(at_s),
                "monetaryAmount": money(amount),
                "dateTime": wire_datetime(at_s),
            }
            if bank:
                item["bankCode"] = bank
            fin.append(item)
        last_pay = max(at for _, at in lines)
        send_s = last_pay + int(rng.integers(600, 12 * 3600))
        if code == "INTAKE_LATE" and detail["variant"] == "fund_flow":
            send_s = last_pay + int(detail["delayH"] * 3600)
            detail["documentNumber"] = number
        payload = {
            "documentNumber": number,
            "sendToProDateTime": wire_datetime(send_s - int(rng.integers(0, 60))),
            "carrier": carrier["actualCarrierName"],
            "actualCarrierId": carrier["actualCarrierId"],
            "vehicleNumber": vehicle,
            "vehiclePlateColorCode": colour,
            "shippingNoteList": [
                {
                    "shippingNoteNumber": t["shippingNoteNumber"],
                    "serialNumber": t["serial"],
                    "totalMonetaryAmount": money(t["amount_milli"]),
                }
                for t in paid
            ],
            "financiallist": fin,
        }
        for t in paid:
            t["fund_flow"] = number
        rec = _record(op, send_s, payload)
        rec["_trips"] = [t["id"] for t in paid]
        return rec

    def fund_flows(self) -> None:
        rng = self.rng
        by_vehicle: dict[int, list[dict]] = {}
        for t in sorted(self.trips, key=lambda t: (t["veh"], t["despatch_s"], t["id"])):
            if t["code"] != "MATCH_NO_FUND_FLOW":
                by_vehicle.setdefault(t["veh"], []).append(t)
        batches = []
        for veh in sorted(by_vehicle):
            ts = by_vehicle[veh]
            i = 0
            while i < len(ts):
                n = 1
                if rng.random() < 0.1:
                    n = int(rng.integers(2, 4))
                    # Only clean trips of the same carrier are paid together.
                    while n > 1 and not all(
                        x["code"] is None
                        and x["carrier"] == ts[i]["carrier"]
                        and x["wire_vehicle"] == ts[i]["wire_vehicle"]
                        for x in ts[i : i + n]
                    ):
                        n -= 1
                    n = min(n, len(ts) - i)
                batches.append(ts[i : i + n])
                i += n
        batches.sort(key=lambda b: (b[0]["op"], max(t["receipt_s"] for t in b), b[0]["id"]))
        seq = [0] * len(self.w.operators)
        for b in batches:
            op = b[0]["op"]
            seq[op] += 1
            number = f"ZJ{op + 1:02d}{wire_date(max(t['receipt_s'] for t in b))[2:]}{seq[op]:06d}"
            self.docs.fund_flows.append(self.fund_flow(b, number))
        by_trip = {tid: rec for rec in self.docs.fund_flows for tid in rec["_trips"]}
        for t in self.trips:
            if t["code"] == "MATCH_CASH_OR_REUSED_SERIAL" and t["detail"]["role"] == "reuser":
                mine, theirs = by_trip[t["id"]], by_trip[t["detail"]["pairedWith"]]
                code = theirs["payload"]["financiallist"][0]["sequenceCode"]
                mine["payload"]["financiallist"][0]["sequenceCode"] = code
                t["detail"]["sequenceCode"] = code
                t["detail"]["documentNumber"] = mine["payload"]["documentNumber"]
                t["detail"]["pairedDocumentNumber"] = theirs["payload"]["documentNumber"]

    # ---- base data -----------------------------------------------------------------------------------

    def base_data(self) -> None:
        rng, w = self.rng, self.w
        for v in w.vehicles:
            payload = {
                k: v[k]
                for k in (
                    "vehicleNumber",
                    "vehiclePlateColorCode",
                    "vehicleType",
                    "owner",
                    "useCharacter",
                    "vin",
                    "issuingOrganizations",
                    "registerDate",
                    "issueDate",
                    "vehicleEnergyType",
                )
            }
            payload["vehicleTonnage"] = f"{v['vehicleTonnage']:.2f}"
            payload["grossMass"] = f"{v['grossMass']:.2f}"
            payload["roadTransportCertificateNumber"] = v["roadTransportCertificateNumber"]
            if v["trailerVehiclePlateNumber"]:
                payload["trailerVehiclePlateNumber"] = v["trailerVehiclePlateNumber"]
            send_s = w.start_s - int(rng.integers(86400, 30 * 86400))
            self.docs.vehicles.append(_record(w.operators[v["_op"]], send_s, payload) | {"_idx": v["_idx"]})
        for d in w.drivers:
            veh = (
                d["_vehicle"]
                if d["_vehicle"] is not None
                else next(v["_idx"] for v in w.vehicles if d["_idx"] in v.get("_codrivers", []))
            )
            payload = {
                k: d[k]
                for k in (
                    "driverName",
                    "drivingLicense",
                    "vehicleClass",
                    "issuingOrganizations",
                    "validPeriodFrom",
                    "validPeriodTo",
                    "qualificationCertificate",
                    "telephone",
                )
            }
            send_s = w.start_s - int(rng.integers(86400, 30 * 86400))
            self.docs.drivers.append(
                _record(w.operators[w.vehicles[veh]["_op"]], send_s, payload) | {"_idx": d["_idx"]}
            )

    # ---- rejected copies -----------------------------------------------------------------------------

    def rejected(self) -> None:
        rng = self.rng
        wb = {rec["_trip"]: rec for rec in self.docs.waybills}
        ff = {tid: rec for rec in self.docs.fund_flows for tid in rec["_trips"]}
        veh = {rec["_idx"]: rec for rec in self.docs.vehicles}
        drv = {rec["_idx"]: rec for rec in self.docs.drivers}
        for k, t in enumerate(x for x in self.trips if "rejected" in x):
            variant = t["rejected"]["variant"]
            if variant == "fund_flow" and t["id"] not in ff:
                variant = "waybill"
            good, file, kind = {
                "waybill": (wb[t["id"]], "waybills.jsonl", "waybill"),
                "fund_flow": (ff.get(t["id"]), "fund_flows.jsonl", "fund_flow"),
                "vehicle": (veh[t["veh"]], "vehicles.jsonl", "vehicle"),
                "driver": (drv[t["drivers"][0]], "drivers.jsonl", "driver"),
            }[variant]
            bad = copy.deepcopy(good["payload"])
            field, rule = _break(rng, kind, bad, k)
            bad_send_s = good["_send_s"] - int(rng.integers(300, 3600))
            if "sendToProDateTime" in bad:
                bad["sendToProDateTime"] = wire_datetime(bad_send_s - int(rng.integers(0, 60)))
            rec = _record({"unifiedSocialCreditIdentifier": good["operator"]}, bad_send_s, bad)
            t["rejected"].update(variant=variant, file=file, field=field, rule=rule)
            self.docs.rejected.append({"file": file, "record": rec, "trip": t["id"]})


def _break(rng: np.random.Generator, kind: str, p: dict, k: int) -> tuple[str, str]:
    """Make one payload invalid on purpose; return the wire path and the rule it breaks."""
    if kind == "waybill":
        choice = k % 4
        if choice == 0:
            p["consignorInfo"]["placeOfLoading"] = (p["consignorInfo"]["placeOfLoading"] * 30)[:300]
            return "consignorInfo.placeOfLoading", "length"
        if choice == 1:
            p["vehicleInfo"][0]["vehiclePlateColorCode"] = "7"
            return "vehicleInfo[0].vehiclePlateColorCode", "code"
        if choice == 2:
            del p["despatchActualDateTime"]
            return "despatchActualDateTime", "required"
        p["goodsReceiptDateTime"] = (
            f"{p['goodsReceiptDateTime'][:4]}-{p['goodsReceiptDateTime'][4:6]}-{p['goodsReceiptDateTime'][6:8]}"
        )
        return "goodsReceiptDateTime", "format"
    if kind == "fund_flow":
        if k % 2:
            p["financiallist"][0]["paymentMeansCode"] = "0"
            return "financiallist[0].paymentMeansCode", "code"
        del p["shippingNoteList"]
        return "shippingNoteList", "required"
    if kind == "vehicle":
        if k % 2:
            p["vehicleType"] = "H99"
            return "vehicleType", "code"
        p["vin"] = p["vin"] * 3
        return "vin", "length"
    if k % 2:
        p["drivingLicense"] = p["drivingLicense"][:17]
        return "drivingLicense", "length"
    del p["telephone"]
    return "telephone", "required"


def build_documents(rng: np.random.Generator, world: World, trips: list[dict]) -> Documents:
    """Number the waybills and build every payload of the run (positions excepted).

    Returns
    -------
    Documents
        Records carry private keys (``_send_s``, ``_trip``...) that the writer drops.
    """
    b = _Builder(rng, world, trips)
    b.number()
    for t in trips:
        b._wire_parties(t)
    done: set[int] = set()
    for t in sorted(trips, key=lambda t: t["id"]):
        members = t["group_members"]
        if id(members) in done:
            continue
        done.add(id(members))
        # A duplicate waybill repeats its original's parties and place texts under its own number.
        content = trips[t["clone_of"]]["content"] if "clone_of" in t else b._group_content(members)
        for m in sorted(members, key=lambda m: m["id"]):
            m["content"] = content
            b.docs.waybills.append(b.waybill(m, content))
    b.fund_flows()
    b.base_data()
    b.rejected()
    b.docs.policies = [p for mine in b.policies for p in mine]
    return b.docs


def _records(shape: type[WireRecord], items: list[dict], entry: str) -> list[dict]:
    """`shape`'s records of `items`: each field from the item's registry ``entry`` (validity, status) or the item.

    The shape (``etl.adapters.records``, what the simulators load) decides the fields, their order and format.
    """
    return shape.dump_many(
        {f: x[entry][f] if f in x[entry] else x[f] for f in shape.model_fields} for x in items
    )


def registry(world: World, docs: Documents) -> dict[str, list[dict]]:
    """Third-party registry records (licences, certificates, network, tax, insurance) of the run."""
    w = world
    out: dict[str, list[dict]] = {}
    out["operator_licences"] = _records(
        OperatorLicenceWire, [op for op in w.operators if op["_permit"]["inRegistry"]], "_permit"
    )
    out["vehicle_certificates"] = _records(
        VehicleCertificateWire, [v for v in w.vehicles if v["_cert"]["inRegistry"]], "_cert"
    )
    out["driver_certificates"] = _records(
        DriverCertificateWire, [d for d in w.drivers if d["_qual"]["inRegistry"]], "_qual"
    )
    out["in_network"] = _records(InNetworkStatusWire, [v for v in w.vehicles if heavy(v)], "_network")
    tax: dict[tuple[int, str], list[int]] = {}
    for rec in docs.waybills:
        op = next(
            i for i, o in enumerate(w.operators) if o["unifiedSocialCreditIdentifier"] == rec["operator"]
        )
        month = rec["payload"]["goodsReceiptDateTime"][:6]
        tax.setdefault((op, month), []).append(int(rec["payload"]["totalMonetaryAmount"].replace(".", "")))
    out["tax_invoices"] = MonthlyInvoiceTotalWire.dump_many(
        {
            "unifiedSocialCreditIdentifier": w.operators[op]["unifiedSocialCreditIdentifier"],
            "month": month,
            "invoiceCount": len(amounts),
            "amount": money(sum(amounts)),
        }
        for (op, month), amounts in sorted(tax.items())
    )
    out["insurance_policies"] = InsurancePolicyWire.dump_many(docs.policies)
    return out
