"""Deterministic business logic of the demo apps, plus their built-in reference data.

Every function maps (input JSON, reference data, adjust) to a result dict. ``adjust`` is
applied to every computed quantity: identity for a good release, a fixed factor for an
output-drift fault, random noise for a non-determinism fault. Results are rounded to 3
decimals so identical inputs give byte-identical JSON.

The built-in tables are the same rows as ``sql/<app>.sql`` seeds; an app without a
database uses them, an app with one reads the tables from PostgreSQL instead. The
figures are illustrative, not authoritative emission factors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

Adjust = Callable[[float], float]
MAX_ITEMS = 1000  # bound the work one request can ask for

# ---- reference data (mirrors sql/*.sql) ------------------------------------------------------
# vcci: (scope 3 category, activity) -> (unit, kg CO2e per unit)
VCCI_FACTORS: dict[tuple[int, str], tuple[str, float]] = {
    (1, "metals"): ("EUR", 0.95),
    (1, "chemicals"): ("EUR", 0.72),
    (1, "plastics"): ("EUR", 0.66),
    (1, "electronics"): ("EUR", 0.41),
    (1, "textiles"): ("EUR", 0.58),
    (1, "food"): ("EUR", 0.83),
    (1, "paper"): ("EUR", 0.49),
    (1, "services"): ("EUR", 0.12),
    (4, "road"): ("tkm", 0.105),
    (4, "rail"): ("tkm", 0.028),
    (4, "sea"): ("tkm", 0.016),
    (4, "air"): ("tkm", 0.602),
    (6, "air_short"): ("pkm", 0.151),
    (6, "air_long"): ("pkm", 0.148),
    (6, "rail"): ("pkm", 0.035),
    (6, "car"): ("pkm", 0.171),
    (6, "hotel"): ("night", 10.4),
}
# vcci suppliers: id, name, country, spend category, annual spend EUR
VCCI_SUPPLIERS: list[tuple[str, str, str, str, float]] = [
    ("S001", "Nordic Steel AB", "SE", "metals", 1_250_000.0),
    ("S002", "Rhein Chemie GmbH", "DE", "chemicals", 830_000.0),
    ("S003", "Polymer Works BV", "NL", "plastics", 610_000.0),
    ("S004", "Circuit House Ltd", "IE", "electronics", 1_480_000.0),
    ("S005", "Lusitania Textil SA", "PT", "textiles", 270_000.0),
    ("S006", "Agro Foods SpA", "IT", "food", 390_000.0),
    ("S007", "Papeterie du Nord", "FR", "paper", 150_000.0),
    ("S008", "Consulting Partners", "BE", "services", 2_100_000.0),
    ("S009", "Baltic Metals UAB", "LT", "metals", 720_000.0),
    ("S010", "Iberica Quimica SL", "ES", "chemicals", 455_000.0),
]
# cbam: CN code -> (description, unit, default embedded t CO2e per unit)
CBAM_DEFAULTS: dict[str, tuple[str, str, float]] = {
    "2523": ("Portland cement", "t", 0.9),
    "7208": ("Flat-rolled iron or steel", "t", 2.1),
    "7601": ("Unwrought aluminium", "t", 8.6),
    "3102": ("Mineral nitrogen fertilisers", "t", 2.7),
    "2804": ("Hydrogen", "t", 10.4),
    "2716": ("Electrical energy", "MWh", 0.38),
}
CBAM_CERTIFICATE_PRICE_EUR = 80.0
# csrd: datapoint code -> (standard, unit, XBRL concept)
CSRD_CATALOG: dict[str, tuple[str, str, str]] = {
    "E1-6_scope1": ("ESRS E1", "tCO2e", "esrs:GrossScope1GHGEmissions"),
    "E1-6_scope2_location": ("ESRS E1", "tCO2e", "esrs:GrossLocationBasedScope2GHGEmissions"),
    "E1-6_scope2_market": ("ESRS E1", "tCO2e", "esrs:GrossMarketBasedScope2GHGEmissions"),
    "E1-6_scope3": ("ESRS E1", "tCO2e", "esrs:GrossScope3GHGEmissions"),
    "E1-6_net_revenue_meur": ("ESRS E1", "MEUR", "esrs:NetRevenue"),
    "E1-5_energy_total_mwh": ("ESRS E1", "MWh", "esrs:TotalEnergyConsumption"),
    "E3-4_water_m3": ("ESRS E3", "m3", "esrs:TotalWaterConsumption"),
    "E5-5_waste_t": ("ESRS E5", "t", "esrs:TotalAmountOfWasteGenerated"),
    "S1-6_employees": ("ESRS S1", "headcount", "esrs:NumberOfEmployeesHeadCount"),
    "S1-16_pay_gap_pct": ("ESRS S1", "%", "esrs:GenderPayGap"),
    "G1-4_corruption_cases": ("ESRS G1", "count", "esrs:NumberOfConvictionsForCorruption"),
}
# csrd: topical standard -> name
CSRD_TOPICS: dict[str, str] = {
    "E1": "Climate change", "E2": "Pollution", "E3": "Water and marine resources",
    "E4": "Biodiversity and ecosystems", "E5": "Resource use and circular economy",
    "S1": "Own workforce", "S2": "Workers in the value chain", "S3": "Affected communities",
    "S4": "Consumers and end-users", "G1": "Business conduct",
}
MATERIALITY_THRESHOLD = 2.0


def builtin_reference(app: str) -> dict:
    """The reference tables an app uses when it has no database."""
    if app == "vcci":
        return {"factors": dict(VCCI_FACTORS), "suppliers": list(VCCI_SUPPLIERS)}
    if app == "cbam":
        return {"defaults": dict(CBAM_DEFAULTS)}
    if app == "csrd":
        return {"catalog": dict(CSRD_CATALOG), "topics": dict(CSRD_TOPICS)}
    raise ValueError(f"unknown app {app!r}; allowed: vcci, cbam, csrd")


def load_reference(cursor, app: str) -> dict:
    """Read the same tables from the app database (a psycopg cursor)."""
    if app == "vcci":
        cursor.execute("SELECT category, activity, unit, factor FROM emission_factors")
        factors = {(int(c), a): (u, float(f)) for c, a, u, f in cursor.fetchall()}
        cursor.execute("SELECT id, name, country, spend_category, annual_spend_eur FROM suppliers ORDER BY id")
        suppliers = [(i, n, c, s, float(sp)) for i, n, c, s, sp in cursor.fetchall()]
        return {"factors": factors, "suppliers": suppliers}
    if app == "cbam":
        cursor.execute("SELECT cn_code, description, unit, embedded_t_co2e_per_unit FROM default_values")
        return {"defaults": {cn: (d, u, float(v)) for cn, d, u, v in cursor.fetchall()}}
    if app == "csrd":
        cursor.execute("SELECT code, standard, unit, xbrl_concept FROM datapoint_catalog")
        catalog = {c: (s, u, x) for c, s, u, x in cursor.fetchall()}
        cursor.execute("SELECT topic, name FROM materiality_topics")
        return {"catalog": catalog, "topics": dict(cursor.fetchall())}
    raise ValueError(f"unknown app {app!r}; allowed: vcci, cbam, csrd")


class InputError(ValueError):
    """The request body does not describe a valid calculation (HTTP 422)."""


def _r(value: float) -> float:
    return round(value, 3)


def digest(obj) -> str:
    """Short content hash of a JSON-able object (canonical form: sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _items(payload: dict, key: str = "items") -> list[dict]:
    items = payload.get(key, [payload] if key == "items" else None)
    if not isinstance(items, list) or not items:
        raise InputError(f"{key}: expected a non-empty list")
    if len(items) > MAX_ITEMS:
        raise InputError(f"{key}: at most {MAX_ITEMS} entries")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{key}[{i}]: expected an object")
    return items


def _number(item: dict, field: str, where: str, default: float | None = None) -> float:
    value = item.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InputError(f"{where}.{field}: expected a non-negative number")
    return float(value)


def _choice(item: dict, field: str, where: str, allowed) -> str:
    value = item.get(field)
    if value not in allowed:
        raise InputError(f"{where}.{field}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


# ---- vcci ------------------------------------------------------------------------------------
def _vcci_category(payload: dict, ref: dict, adjust: Adjust, category: int) -> dict:
    factors = {a: uf for (c, a), uf in ref["factors"].items() if c == category}
    field = "category" if category == 1 else "mode"
    lines, total = [], 0.0
    for i, item in enumerate(_items(payload)):
        where = f"items[{i}]"
        activity = _choice(item, field, where, factors)
        unit, factor = factors[activity]
        if unit == "EUR":
            quantity = _number(item, "spend", where)
        elif unit == "tkm":
            quantity = _number(item, "tonnes", where) * _number(item, "distance_km", where)
        elif unit == "pkm":
            quantity = _number(item, "distance_km", where) * _number(item, "passengers", where, 1)
        else:
            quantity = _number(item, "nights", where)
        kg = adjust(quantity * factor)
        total += kg
        lines.append({field: activity, "quantity": _r(quantity), "unit": unit, "factor": factor, "kg_co2e": _r(kg)})
    return {"scope3_category": category, "items": lines, "total_kg_co2e": _r(total)}


def vcci_category1(payload: dict, ref: dict, adjust: Adjust) -> dict:
    return {**_vcci_category(payload, ref, adjust, 1), "method": "spend-based"}


def vcci_category4(payload: dict, ref: dict, adjust: Adjust) -> dict:
    return {**_vcci_category(payload, ref, adjust, 4), "method": "distance-based"}


def vcci_category6(payload: dict, ref: dict, adjust: Adjust) -> dict:
    return {**_vcci_category(payload, ref, adjust, 6), "method": "distance-based"}


def _supplier_emissions(ref: dict, adjust: Adjust) -> list[dict]:
    rows = []
    for sid, name, country, category, spend in ref["suppliers"]:
        factor = ref["factors"].get((1, category), ("EUR", 0.0))[1]
        rows.append({"supplier_id": sid, "name": name, "country": country, "category": category,
                     "kg_co2e": adjust(spend * factor)})
    return rows


def vcci_hotspots(query: dict, ref: dict, adjust: Adjust) -> dict:
    try:
        top = int(query.get("top", 5))
    except ValueError:
        raise InputError("top: expected an integer") from None
    if not 1 <= top <= 50:
        raise InputError("top: expected 1..50")
    rows = _supplier_emissions(ref, adjust)
    total = sum(r["kg_co2e"] for r in rows)
    rows.sort(key=lambda r: (-r["kg_co2e"], r["supplier_id"]))
    hotspots = [{**r, "kg_co2e": _r(r["kg_co2e"]), "share_pct": _r(100 * r["kg_co2e"] / total if total else 0.0)}
                for r in rows[:top]]
    return {"total_kg_co2e": _r(total), "supplier_count": len(rows), "hotspots": hotspots}


def vcci_report(payload: dict, ref: dict, adjust: Adjust) -> dict:
    period = payload.get("period", "unspecified")
    if not isinstance(period, str):
        raise InputError("period: expected a string")
    totals = {"category1": sum(r["kg_co2e"] for r in _supplier_emissions(ref, adjust))}
    activities = payload.get("activities", {})
    if not isinstance(activities, dict):
        raise InputError("activities: expected an object with category4 / category6 item lists")
    for name, fn in (("category4", vcci_category4), ("category6", vcci_category6)):
        if name in activities:
            totals[name] = fn({"items": activities[name]}, ref, adjust)["total_kg_co2e"]
    body = {"period": period, "totals_kg_co2e": {k: _r(v) for k, v in totals.items()},
            "total_kg_co2e": _r(sum(totals.values())), "supplier_count": len(ref["suppliers"])}
    return {"report_id": digest(body), **body}


# ---- cbam ------------------------------------------------------------------------------------
def cbam_calculate(payload: dict, ref: dict, adjust: Adjust) -> dict:
    price = _number(payload, "certificate_price_eur", "body", CBAM_CERTIFICATE_PRICE_EUR)
    lines, total_t, total_cost = [], 0.0, 0.0
    for i, item in enumerate(_items(payload, "imports")):
        where = f"imports[{i}]"
        cn = _choice(item, "cn_code", where, ref["defaults"])
        description, unit, factor = ref["defaults"][cn]
        quantity = _number(item, "quantity", where)
        paid = _number(item, "carbon_price_paid_eur_per_t", where, 0.0)
        embedded = adjust(quantity * factor)
        cost = max(0.0, embedded * (price - paid))
        total_t += embedded
        total_cost += cost
        lines.append({"cn_code": cn, "description": description, "quantity": quantity, "unit": unit,
                      "default_value": factor, "embedded_t_co2e": _r(embedded),
                      "certificates": _r(embedded), "cost_eur": round(cost, 2)})
    return {"imports": lines, "total_embedded_t_co2e": _r(total_t), "certificates_required": _r(total_t),
            "certificate_price_eur": price, "total_cost_eur": round(total_cost, 2)}


# ---- csrd ------------------------------------------------------------------------------------
def csrd_intake(payload: dict, ref: dict, adjust: Adjust) -> dict:
    accepted, rejected = [], []
    for i, item in enumerate(_items(payload, "datapoints")):
        code, value, unit = item.get("code"), item.get("value"), item.get("unit")
        if code not in ref["catalog"]:
            rejected.append({"index": i, "code": code, "reason": "unknown datapoint code"})
        elif isinstance(value, bool) or not isinstance(value, int | float):
            rejected.append({"index": i, "code": code, "reason": "value is not a number"})
        elif unit is not None and unit != ref["catalog"][code][1]:
            rejected.append({"index": i, "code": code, "reason": f"unit must be {ref['catalog'][code][1]}"})
        else:
            accepted.append({"code": code, "value": float(value), "unit": ref["catalog"][code][1]})
    return {"accepted": len(accepted), "rejected": rejected, "datapoints": accepted,
            "batch_id": digest(accepted)}


def _scores(entry: dict, where: str, adjust: Adjust) -> tuple[float, float]:
    impact, financial = entry.get("impact", {}), entry.get("financial", {})
    if not isinstance(impact, dict) or not isinstance(financial, dict):
        raise InputError(f"{where}: impact and financial must be objects")
    severity = sum(_number(impact, k, f"{where}.impact", 1) for k in ("scale", "scope", "irremediability")) / 3
    impact_score = adjust(severity * _number(impact, "likelihood", f"{where}.impact", 1))
    financial_score = adjust(_number(financial, "magnitude", f"{where}.financial", 1)
                             * _number(financial, "likelihood", f"{where}.financial", 1))
    return impact_score, financial_score


def csrd_materiality(payload: dict, ref: dict, adjust: Adjust) -> dict:
    results = []
    for i, entry in enumerate(_items(payload, "topics")):
        topic = _choice(entry, "topic", f"topics[{i}]", ref["topics"])
        impact_score, financial_score = _scores(entry, f"topics[{i}]", adjust)
        results.append({"topic": topic, "name": ref["topics"][topic], "impact_score": _r(impact_score),
                        "financial_score": _r(financial_score),
                        "material": impact_score >= MATERIALITY_THRESHOLD or financial_score >= MATERIALITY_THRESHOLD})
    return {"threshold": MATERIALITY_THRESHOLD, "topics": results,
            "material_topics": [r["topic"] for r in results if r["material"]]}


def csrd_calculate(payload: dict, ref: dict, adjust: Adjust) -> dict:
    values = {dp["code"]: dp["value"] for dp in csrd_intake(payload, ref, adjust)["datapoints"]}
    scope1 = adjust(values.get("E1-6_scope1", 0.0))
    scope2 = adjust(values.get("E1-6_scope2_market", values.get("E1-6_scope2_location", 0.0)))
    scope3 = adjust(values.get("E1-6_scope3", 0.0))
    total = scope1 + scope2 + scope3
    revenue = values.get("E1-6_net_revenue_meur")
    return {"scope1_t_co2e": _r(scope1), "scope2_t_co2e": _r(scope2), "scope3_t_co2e": _r(scope3),
            "total_t_co2e": _r(total),
            "intensity_t_co2e_per_meur": _r(total / revenue) if revenue else None}


PIPELINE_AGENTS = ("intake", "validation", "emissions_calculator", "materiality_assessor", "intensity_benchmark",
                   "narrative_generator", "xbrl_tagger", "audit_trail", "quality_checker", "report_assembler")


def csrd_pipeline(payload: dict, ref: dict, adjust: Adjust) -> dict:
    """Run the ten reporting agents in order; the report hash proves reproducibility."""
    company = str(payload.get("company", "unnamed"))
    period = str(payload.get("period", "unspecified"))
    intake = csrd_intake(payload, ref, adjust)
    outputs = {"intake": intake,
               "validation": {"valid": not intake["rejected"], "rejected": len(intake["rejected"])},
               "emissions_calculator": csrd_calculate(payload, ref, adjust)}
    topics = payload.get("topics")
    outputs["materiality_assessor"] = csrd_materiality(payload, ref, adjust) if topics else {"material_topics": []}
    emissions = outputs["emissions_calculator"]
    intensity = emissions["intensity_t_co2e_per_meur"]
    outputs["intensity_benchmark"] = {"intensity": intensity,
                                      "band": None if intensity is None else ("low" if intensity < 100 else "high")}
    outputs["narrative_generator"] = {"text": (
        f"{company} reports total GHG emissions of {emissions['total_t_co2e']} tCO2e for {period}; "
        f"{len(outputs['materiality_assessor']['material_topics'])} topics are material.")}
    outputs["xbrl_tagger"] = {"facts": [{"concept": ref["catalog"][dp["code"]][2], "value": dp["value"]}
                                        for dp in intake["datapoints"]]}
    outputs["audit_trail"] = {"inputs": digest(payload), "steps": list(PIPELINE_AGENTS[:7])}
    outputs["quality_checker"] = {"passed": outputs["validation"]["valid"] and emissions["total_t_co2e"] >= 0}
    report = {"company": company, "period": period, "emissions": emissions,
              "material_topics": outputs["materiality_assessor"]["material_topics"],
              "narrative": outputs["narrative_generator"]["text"], "xbrl_facts": len(outputs["xbrl_tagger"]["facts"])}
    outputs["report_assembler"] = report
    agents = [{"name": name, "status": "ok", "output_hash": digest(outputs[name])} for name in PIPELINE_AGENTS]
    return {"agents": agents, "report": report, "report_hash": digest(report),
            "quality_passed": outputs["quality_checker"]["passed"]}
