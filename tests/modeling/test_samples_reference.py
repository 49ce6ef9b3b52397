"""Independent reference check of every sample in datasets/samples.

Each sample's answer (status and objective) is re-derived here from a model written by
hand directly in highspy (LP, MILP, QP and linearizable problems) or pyscipopt (MIQP, NLP,
MINLP). Nothing from the project's own packages (modeling, agent, evals) is imported, so
these tests catch a wrong recorded answer without trusting the code under test. Data are
read from the sample's `formulation.parameters` where that is plain (lists or mappings),
and written out from the problem text otherwise (sparse rows, defaults, numeric strings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pyscipopt
import pytest
import yaml

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "datasets" / "samples"
SAMPLE_IDS = sorted(p.stem for p in SAMPLES_DIR.glob("*.yaml"))

REQUIRED_KEYS = {"id", "title", "model_class", "tags", "problem", "answer", "formulation"}
MODEL_CLASSES = {"LP", "MILP", "QP", "MIQP", "NLP", "MINLP"}
STATUSES = {"optimal", "infeasible", "unbounded"}
INF = math.inf

Result = tuple[str, float | None]
Doc = dict[str, Any]


# --------------------------------------------------------------------------- data helpers


def load(sample_id: str) -> Doc:
    with open(SAMPLES_DIR / f"{sample_id}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def elements(doc: Doc, set_name: str) -> list[Any]:
    spec = doc["formulation"]["sets"][set_name]
    if isinstance(spec, dict):
        return list(range(spec["from"], spec["to"] + 1))
    return [tuple(e) if isinstance(e, list) else e for e in spec]


def scalar(doc: Doc, name: str) -> float:
    return float(doc["formulation"]["parameters"][name])


def vec(doc: Doc, name: str) -> dict[Any, float]:
    """A one-index parameter given as a list or a mapping (no defaults)."""
    spec = doc["formulation"]["parameters"][name]
    els = elements(doc, spec["index"][0])
    values = spec["values"]
    if isinstance(values, list):
        assert len(values) == len(els)
        return {e: float(v) for e, v in zip(els, values, strict=True)}
    by_str = {str(k): float(v) for k, v in values.items()}
    return {e: by_str[str(e)] for e in els}


def mat(doc: Doc, name: str) -> dict[tuple[Any, Any], float]:
    """A two-index parameter given as nested lists or nested mappings (no defaults)."""
    spec = doc["formulation"]["parameters"][name]
    rows_set, cols_set = (elements(doc, s) for s in spec["index"])
    values = spec["values"]
    out: dict[tuple[Any, Any], float] = {}
    for pos, r in enumerate(rows_set):
        row = values[pos] if isinstance(values, list) else values[r]
        for cpos, c in enumerate(cols_set):
            out[r, c] = float(row[cpos] if isinstance(row, list) else row[c])
    return out


# --------------------------------------------------------------------------- HiGHS helpers


def new_highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    return h


def _status_of(h: highspy.Highs) -> Result:
    ms = h.getModelStatus()
    if ms == highspy.HighsModelStatus.kOptimal:
        return "optimal", h.getInfo().objective_function_value
    if ms == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", None
    if ms == highspy.HighsModelStatus.kUnbounded:
        return "unbounded", None
    if ms == highspy.HighsModelStatus.kUnboundedOrInfeasible:
        # Decide with a feasibility solve: zero objective, presolve off.
        lp = h.getLp()
        h.changeColsCost(lp.num_col_, np.arange(lp.num_col_, dtype=np.int32), np.zeros(lp.num_col_))
        h.changeObjectiveOffset(0.0)
        h.setOptionValue("presolve", "off")
        h.run()
        feas = h.getModelStatus()
        if feas == highspy.HighsModelStatus.kOptimal:
            return "unbounded", None
        if feas == highspy.HighsModelStatus.kInfeasible:
            return "infeasible", None
    return f"unexpected:{h.modelStatusToString(ms)}", None


def solve_highs(h: highspy.Highs, sense: str, objective: Any) -> Result:
    if sense == "min":
        h.minimize(objective)
    else:
        h.maximize(objective)
    return _status_of(h)


def solve_highs_qp(h: highspy.Highs, linear: Any, hessian: np.ndarray) -> Result:
    """Minimize linear + 0.5 x'Qx, Q given dense over all columns (HiGHS convention)."""
    if isinstance(linear, int | float):
        h.changeObjectiveOffset(float(linear))
        h.changeObjectiveSense(highspy.ObjSense.kMinimize)
    else:
        h.setObjective(linear, highspy.ObjSense.kMinimize)
    n = h.getNumCol()
    assert hessian.shape == (n, n)
    assert np.allclose(hessian, hessian.T)
    start, index, value = [0], [], []
    for col in range(n):
        for row in range(col, n):
            if hessian[row, col] != 0.0:
                index.append(row)
                value.append(float(hessian[row, col]))
        start.append(len(index))
    h.passHessian(
        n,
        len(index),
        highspy.HessianFormat.kTriangular,
        np.array(start, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=np.float64),
    )
    h.run()
    return _status_of(h)


# --------------------------------------------------------------------------- SCIP helpers


def new_scip() -> pyscipopt.Model:
    # Default tolerances on purpose: the recorded NLP/MIQP answers are closed-form or
    # enumerated values, and SCIP's (feastol 1e-6) land well inside 1e-6 * (1 + |obj|).
    # A tighter numerics/feastol (1e-8) made ad_budget_response stall, so do not add one.
    m = pyscipopt.Model()
    m.hideOutput()
    return m


def solve_scip(m: pyscipopt.Model, sense: str, objective: Any, nonlinear: bool) -> Result:
    """SCIP rejects nonlinear objectives: those go into an epigraph variable."""
    if nonlinear:
        z = m.addVar("epigraph", lb=None, ub=None)
        if sense == "min":
            m.addCons(objective <= z)
        else:
            m.addCons(objective >= z)
        objective = z
    m.setObjective(objective, "minimize" if sense == "min" else "maximize")
    m.optimize()
    status = m.getStatus()
    if status == "optimal":
        return "optimal", m.getObjVal()
    return status, None


# --------------------------------------------------------------------------- LP builders


def ref_transport_basic(doc: Doc) -> Result:
    plants, markets = elements(doc, "Plants"), elements(doc, "Markets")
    supply, demand, cost = vec(doc, "supply"), vec(doc, "demand"), mat(doc, "cost")
    h = new_highs()
    x = {(p, m): h.addVariable(lb=0) for p in plants for m in markets}
    for p in plants:
        h.addConstr(sum(x[p, m] for m in markets) <= supply[p])
    for m in markets:
        h.addConstr(sum(x[p, m] for p in plants) >= demand[m])
    return solve_highs(h, "min", sum(cost[k] * x[k] for k in x))


def ref_diet_planning(doc: Doc) -> Result:
    foods, nutrients = elements(doc, "Foods"), elements(doc, "Nutrients")
    price, content = vec(doc, "price"), mat(doc, "content")
    lo, hi, cap = vec(doc, "min_intake"), vec(doc, "max_intake"), vec(doc, "max_servings")
    h = new_highs()
    s = {f: h.addVariable(lb=0, ub=cap[f]) for f in foods}
    for n in nutrients:
        amount = sum(content[f, n] * s[f] for f in foods)
        h.addConstr(amount >= lo[n])
        h.addConstr(amount <= hi[n])
    return solve_highs(h, "min", sum(price[f] * s[f] for f in foods))


def ref_production_mix(doc: Doc) -> Result:
    products, resources = elements(doc, "Products"), elements(doc, "Resources")
    profit, usage, avail = vec(doc, "profit"), mat(doc, "usage"), vec(doc, "available")
    h = new_highs()
    x = {p: h.addVariable(lb=0) for p in products}
    for r in resources:
        h.addConstr(sum(usage[r, p] * x[p] for p in products) <= avail[r])
    h.addConstr(x["chair"] <= 120)
    h.addConstr(x["desk"] >= 10)
    return solve_highs(h, "max", sum(profit[p] * x[p] for p in products))


def ref_alloy_blending(doc: Doc) -> Result:
    # material: price, Cu %, Sn %, Zn %, stock (from the problem text)
    data = {
        "scrap_a": (1.20, 70, 5, 25, 900),
        "scrap_b": (1.05, 55, 15, 30, 700),
        "scrap_c": (0.90, 50, 8, 42, 1000),
        "copper": (4.10, 100, 0, 0, INF),
        "tin": (12.50, 0, 100, 0, INF),
    }
    h = new_highs()
    u = {m: h.addVariable(lb=0, ub=d[4]) for m, d in data.items()}
    h.addConstr(sum(u.values()) == 2000)
    cu = sum(d[1] / 100 * u[m] for m, d in data.items())
    sn = sum(d[2] / 100 * u[m] for m, d in data.items())
    zn = sum(d[3] / 100 * u[m] for m, d in data.items())
    h.addConstr(cu >= 0.62 * 2000)
    h.addConstr(cu <= 0.68 * 2000)
    h.addConstr(sn >= 0.09 * 2000)
    h.addConstr(sn <= 0.11 * 2000)
    h.addConstr(zn <= 0.28 * 2000)
    return solve_highs(h, "min", sum(d[0] * u[m] for m, d in data.items()))


def ref_inventory_planning(doc: Doc) -> Result:
    demand = [180, 220, 310, 400, 280, 190]
    reg_cap = [250, 250, 250, 200, 250, 250]
    h = new_highs()
    reg = [h.addVariable(lb=0, ub=reg_cap[t]) for t in range(6)]
    ot = [h.addVariable(lb=0, ub=60) for _ in range(6)]
    inv = [h.addVariable(lb=0, ub=200) for _ in range(6)]
    prev: Any = 40
    for t in range(6):
        h.addConstr(prev + reg[t] + ot[t] - inv[t] == demand[t])
        prev = inv[t]
    for t in range(5):  # safety stock: larger of 20 and 10% of next month's demand
        h.addConstr(inv[t] >= max(20, 0.1 * demand[t + 1]))
    h.addConstr(inv[5] >= 30)
    cost = sum(95 * reg[t] + 120 * ot[t] + 4 * inv[t] for t in range(6))
    return solve_highs(h, "min", cost)


def ref_min_cost_flow(doc: Doc) -> Result:
    lanes = {
        ("factory1", "hub_a"): (2, 120),
        ("factory1", "hub_b"): (3, 100),
        ("factory1", "store1"): (7, 40),
        ("factory2", "hub_a"): (4, 80),
        ("factory2", "hub_b"): (2, 90),
        ("factory2", "store3"): (6, 30),
        ("hub_a", "hub_b"): (1, 50),
        ("hub_a", "store1"): (3, 100),
        ("hub_a", "store2"): (4, 90),
        ("hub_b", "store2"): (2, 80),
        ("hub_b", "store3"): (3, 80),
    }
    balance = {"factory1": 150, "factory2": 120, "hub_a": 0, "hub_b": 0}
    balance |= {"store1": -90, "store2": -110, "store3": -70}
    h = new_highs()
    f = {a: h.addVariable(lb=0, ub=cap) for a, (_, cap) in lanes.items()}
    for node, b in balance.items():
        out_flow = sum(f[a] for a in lanes if a[0] == node)
        in_flow = sum(f[a] for a in lanes if a[1] == node)
        h.addConstr(out_flow - in_flow == b)
    return solve_highs(h, "min", sum(c * f[a] for a, (c, _) in lanes.items()))


def ref_evacuation_max_flow(doc: Doc) -> Result:
    roads = {
        ("town", "j1"): 900,
        ("town", "j2"): 700,
        ("j1", "j2"): 200,
        ("j1", "j3"): 600,
        ("j2", "j3"): 100,
        ("j2", "j4"): 800,
        ("j3", "j4"): 250,
        ("j3", "shelter"): 700,
        ("j4", "shelter"): 600,
    }
    h = new_highs()
    f = {r: h.addVariable(lb=0, ub=cap) for r, cap in roads.items()}
    for k in ["j1", "j2", "j3", "j4"]:
        h.addConstr(sum(f[r] for r in roads if r[1] == k) == sum(f[r] for r in roads if r[0] == k))
    return solve_highs(h, "max", sum(f[r] for r in roads if r[1] == "shelter"))


def ref_lad_regression(doc: Doc) -> Result:
    x, y = vec(doc, "x"), vec(doc, "y")
    h = new_highs()
    a = h.addVariable(lb=-INF)
    b = h.addVariable(lb=-INF)
    # split each residual into positive and negative parts
    pos = {r: h.addVariable(lb=0) for r in x}
    neg = {r: h.addVariable(lb=0) for r in x}
    for r in x:
        h.addConstr(a + b * x[r] + pos[r] - neg[r] == y[r])
    return solve_highs(h, "min", sum(pos[r] + neg[r] for r in x))


def ref_timber_harvest(doc: Doc) -> Result:
    stands = {"north_ridge": (120, 35, 60), "river_flat": (80, 50, 75), "east_slope": (150, 20, 45)}
    years = [1, 2, 3, 4]
    h = new_highs()
    cut = {(s, t): h.addVariable(lb=0) for s in stands for t in years}

    def volume(s: str, t: int) -> float:
        _, age, base = stands[s]
        return base * math.log(1 + age + t)

    for s, (area, _, _) in stands.items():
        h.addConstr(sum(cut[s, t] for t in years) <= area)
    for t in years:
        h.addConstr(6000 <= sum(volume(s, t) * cut[s, t] for s in stands) <= 9000)
    pv = sum(
        math.exp(-0.06 * t) * (30 * volume(s, t) - 900) * cut[s, t] for s in stands for t in years
    )
    return solve_highs(h, "max", pv)


def ref_crop_planning(doc: Doc) -> Result:
    # crop: revenue, cost, water, labor, subsidy
    crops = {
        "wheat": (420, 310, 1.5, 4, 0),
        "corn": (610, 480, 2.6, 6, 0),
        "soybeans": (500, 350, 1.8, 5, 40),
        "barley": (360, 260, 1.2, 3.5, 0),
    }
    h = new_highs()
    x = {c: h.addVariable(lb=0) for c in crops}
    h.addConstr(sum(x.values()) <= 600)
    h.addConstr(sum(d[2] * x[c] for c, d in crops.items()) <= 1200)
    h.addConstr(sum(d[3] * x[c] for c, d in crops.items()) <= 3000)
    h.addConstr(sum(d[1] * x[c] for c, d in crops.items()) <= 250_000)
    h.addConstr(x["soybeans"] - 0.5 * x["corn"] >= 0)
    h.addConstr(x["wheat"] + x["barley"] <= 250)
    return solve_highs(h, "max", sum((d[0] - d[1] + d[4]) * x[c] for c, d in crops.items()))


def ref_infeasible_feed_blend(doc: Doc) -> Result:
    data = {  # price, protein %, fat %, available
        "fishmeal": (1.60, 60, 10, 1000),
        "soymeal": (0.55, 45, 2, 300),
        "corn": (0.25, 9, 4, 1000),
        "wheat_bran": (0.20, 15, 4, 1000),
    }
    h = new_highs()
    x = {g: h.addVariable(lb=0, ub=d[3]) for g, d in data.items()}
    h.addConstr(sum(x.values()) == 1000)
    h.addConstr(sum(d[1] / 100 * x[g] for g, d in data.items()) >= 400)
    h.addConstr(sum(d[2] / 100 * x[g] for g, d in data.items()) <= 50)
    return solve_highs(h, "min", sum(d[0] * x[g] for g, d in data.items()))


def ref_unbounded_currency_arbitrage(doc: Doc) -> Result:
    quotes = {
        ("USD", "EUR"): 0.92,
        ("EUR", "GBP"): 0.86,
        ("GBP", "USD"): 1.28,
        ("USD", "JPY"): 149.5,
        ("JPY", "EUR"): 0.0061,
        ("EUR", "USD"): 1.07,
    }
    start = {"USD": 1000.0, "EUR": 0.0, "GBP": 0.0, "JPY": 0.0}
    h = new_highs()
    h.setOptionValue("presolve", "off")
    conv = {q: h.addVariable(lb=0) for q in quotes}
    final = {c: h.addVariable(lb=0) for c in start}
    for c, s0 in start.items():
        inflow = sum(rate * conv[q] for q, rate in quotes.items() if q[1] == c)
        outflow = sum(conv[q] for q in quotes if q[0] == c)
        h.addConstr(final[c] - inflow + outflow == s0)
    return solve_highs(h, "max", final["USD"])


def ref_unbounded_calendar_spread(doc: Doc) -> Result:
    price = [71.2, 72.5, 3.1, 2.4]
    delta = [1.0, 1.0, 0.55, -0.45]
    vega = [0.0, 0.0, 0.8, 0.7]
    h = new_highs()
    h.setOptionValue("presolve", "off")
    pos = [h.addVariable(lb=-INF, ub=INF) for _ in price]
    h.addConstr(sum(d * x for d, x in zip(delta, pos, strict=True)) == 500)
    h.addConstr(-200 <= sum(v * x for v, x in zip(vega, pos, strict=True)) <= 200)
    return solve_highs(h, "min", sum(p * x for p, x in zip(price, pos, strict=True)))


# --------------------------------------------------------------------------- MILP builders


def ref_knapsack_relief_cargo(doc: Doc) -> Result:
    items = elements(doc, "Items")
    size, limit, prio = mat(doc, "size"), vec(doc, "limit"), vec(doc, "priority")
    h = new_highs()
    x = {i: h.addBinary() for i in items}
    for k in ("weight", "volume"):
        h.addConstr(sum(size[i, k] * x[i] for i in items) <= limit[k])
    h.addConstr(x["radio_set"] <= x["batteries"])
    h.addConstr(x["generator"] <= x["fuel_cans"])
    return solve_highs(h, "max", sum(prio[i] * x[i] for i in items))


def ref_facility_location(doc: Doc) -> Result:
    sites = {"alpha": (0, 0, 12000, 500), "bravo": (40, 10, 9000, 350)}
    sites |= {"charlie": (20, 35, 10000, 400), "delta": (45, 40, 11000, 450)}
    customers = {"c1": (5, 8, 120), "c2": (30, 5, 150), "c3": (15, 30, 90)}
    customers |= {"c4": (42, 28, 160), "c5": (28, 45, 110), "c6": (50, 15, 130)}
    h = new_highs()
    y = {s: h.addBinary() for s in sites}
    x = {(s, c): h.addVariable(lb=0) for s in sites for c in customers}
    for c, (_, _, dem) in customers.items():
        h.addConstr(sum(x[s, c] for s in sites) == dem)
    for s, (_, _, _, cap) in sites.items():
        h.addConstr(sum(x[s, c] for c in customers) - cap * y[s] <= 0)
    dist = {
        (s, c): math.hypot(sites[s][0] - customers[c][0], sites[s][1] - customers[c][1])
        for s in sites
        for c in customers
    }
    cost = sum(d[2] * y[s] for s, d in sites.items()) + sum(1.5 * dist[k] * x[k] for k in x)
    return solve_highs(h, "min", cost)


def ref_nurse_shifts(doc: Doc) -> Result:
    needed = [8, 5, 14, 18, 16, 11]
    pay = [480, 400, 400, 400, 400, 480]
    h = new_highs()
    n = [h.addIntegral(lb=0) for _ in range(6)]
    for t in range(6):
        h.addConstr(n[t] + n[(t - 1) % 6] >= needed[t])  # shift starting in t or t-1 (cyclic)
    return solve_highs(h, "min", sum(pay[s] * n[s] for s in range(6)))


def ref_lot_sizing_setup(doc: Doc) -> Result:
    orders = [80, 150, 60, 200, 120]
    h = new_highs()
    q = [h.addVariable(lb=0, ub=300) for _ in orders]
    y = [h.addBinary() for _ in orders]
    stock = [h.addVariable(lb=0) for _ in orders]
    for t, d in enumerate(orders):
        opening: Any = stock[t - 1] if t > 0 else 0
        h.addConstr(opening + q[t] - stock[t] == d)
        h.addConstr(q[t] - 300 * y[t] <= 0)
    cost = sum(500 * y[t] + 12 * q[t] + 2 * stock[t] for t in range(len(orders)))
    return solve_highs(h, "min", cost)


def ref_worker_assignment(doc: Doc) -> Result:
    hours = {
        "ana": [6, 9, 4, 7],
        "ben": [8, 5, 6, 9],
        "chloe": [5, 8, 7, 6],
        "dmitri": [7, 6, 5, 8],
        "emre": [9, 7, 8, 4],
    }
    h = new_highs()
    x = {(w, k): h.addBinary() for w in hours for k in range(4)}
    h.addConstr(x["ana", 2] == 0)  # not certified for task 3
    for k in range(4):
        h.addConstr(sum(x[w, k] for w in hours) == 1)
    for w in hours:
        h.addConstr(sum(x[w, k] for k in range(4)) <= 1)
    return solve_highs(h, "min", sum(hours[w][k] * x[w, k] for w, k in x))


def ref_cutting_patterns(doc: Doc) -> Result:
    # pieces of (50, 38, 27, 16) cm per pattern, from the problem table
    patterns = [
        (2, 0, 0, 1),
        (1, 1, 0, 2),
        (1, 0, 2, 1),
        (0, 3, 0, 0),
        (0, 2, 1, 1),
        (0, 0, 4, 0),
        (0, 1, 3, 0),
        (0, 0, 0, 7),
        (0, 0, 2, 4),
    ]
    for p in patterns:
        assert 50 * p[0] + 38 * p[1] + 27 * p[2] + 16 * p[3] <= 120
    orders = (60, 85, 110, 140)
    h = new_highs()
    n = [h.addIntegral(lb=0) for _ in patterns]
    for w in range(4):
        h.addConstr(sum(p[w] * n[i] for i, p in enumerate(patterns)) >= orders[w])
    return solve_highs(h, "min", sum(n))


def ref_tsp_delivery_route(doc: Doc) -> Result:
    # single-commodity flow formulation (different from the sample's MTZ ordering)
    stops = {"depot": (0, 0), "bakery": (2, 7), "clinic": (6, 3)}
    stops |= {"school": (8, 8), "office": (3, 2), "garage": (9, 1)}
    names = list(stops)
    arcs = [(i, j) for i in names for j in names if i != j]
    n_cust = len(names) - 1
    h = new_highs()
    x = {a: h.addBinary() for a in arcs}
    f = {a: h.addVariable(lb=0, ub=n_cust) for a in arcs}
    for v in names:
        h.addConstr(sum(x[a] for a in arcs if a[0] == v) == 1)
        h.addConstr(sum(x[a] for a in arcs if a[1] == v) == 1)
    for a in arcs:
        h.addConstr(f[a] - n_cust * x[a] <= 0)
    for v in names[1:]:  # every customer consumes one unit shipped from the depot
        h.addConstr(
            sum(f[a] for a in arcs if a[1] == v) - sum(f[a] for a in arcs if a[0] == v) == 1
        )

    def dist(i: str, j: str) -> float:
        return abs(stops[i][0] - stops[j][0]) + abs(stops[i][1] - stops[j][1])

    return solve_highs(h, "min", sum(dist(*a) * x[a] for a in arcs))


def ref_ambulance_coverage(doc: Doc) -> Result:
    sites, areas = elements(doc, "Sites"), elements(doc, "Areas")
    minutes, cost = mat(doc, "minutes"), vec(doc, "station_cost")
    h = new_highs()
    y = {s: h.addBinary() for s in sites}
    for a in areas:
        need = 2 if a == "downtown" else 1
        h.addConstr(sum(y[s] for s in sites if minutes[s, a] <= 10) >= need)
    return solve_highs(h, "min", sum(cost[s] * y[s] for s in sites))


def ref_capital_budgeting(doc: Doc) -> Result:
    projects, years = elements(doc, "Projects"), elements(doc, "Years")
    npv, capital, budget = vec(doc, "npv"), mat(doc, "capital"), vec(doc, "budget")
    h = new_highs()
    x = {p: h.addBinary() for p in projects}
    for t in years:
        h.addConstr(sum(capital[p, t] * x[p] for p in projects) <= budget[t])
    h.addConstr(x["scada_system"] <= x["smart_meters"])
    h.addConstr(x["reservoir"] + x["desalination"] <= 1)
    h.addConstr(sum(x.values()) <= 4)
    return solve_highs(h, "max", sum(npv[p] * x[p] for p in projects))


def ref_truck_loading(doc: Doc) -> Result:
    weights = [4.5, 3.2, 2.8, 5.1, 1.9, 3.7, 2.4, 4.0]
    trucks = [(12, 400), (12, 400), (8, 250), (8, 250)]
    h = new_highs()
    y = [h.addBinary() for _ in trucks]
    x = {(p, k): h.addBinary() for p in range(len(weights)) for k in range(len(trucks))}
    for p in range(len(weights)):
        h.addConstr(sum(x[p, k] for k in range(len(trucks))) == 1)
    for k, (cap, _) in enumerate(trucks):
        h.addConstr(sum(w * x[p, k] for p, w in enumerate(weights)) - cap * y[k] <= 0)
    return solve_highs(h, "min", sum(c * y[k] for k, (_, c) in enumerate(trucks)))


def ref_machine_tardiness(doc: Doc) -> Result:
    proc, due, pen = [4, 3, 6, 2], [6, 5, 10, 4], [3, 5, 2, 4]
    jobs = range(4)
    big_m = sum(proc)
    h = new_highs()
    s = [h.addVariable(lb=0) for _ in jobs]
    late = [h.addVariable(lb=0) for _ in jobs]
    for j in jobs:
        h.addConstr(late[j] - s[j] >= proc[j] - due[j])
    for i in jobs:
        for j in jobs:
            if i < j:
                y = h.addBinary()  # 1: i before j
                h.addConstr(s[i] + proc[i] - s[j] + big_m * y <= big_m)
                h.addConstr(s[j] + proc[j] - s[i] - big_m * y <= 0)
    return solve_highs(h, "min", sum(pen[j] * late[j] for j in jobs))


def ref_infeasible_bottle_order(doc: Doc) -> Result:
    sizes, prices = [6, 10, 14], [7.20, 11.50, 15.40]
    h = new_highs()
    n = [h.addIntegral(lb=0) for _ in sizes]
    h.addConstr(sum(s * x for s, x in zip(sizes, n, strict=True)) == 125)
    h.addConstr(sum(p * x for p, x in zip(prices, n, strict=True)) <= 160)
    return solve_highs(h, "min", sum(p * x for p, x in zip(prices, n, strict=True)))


def ref_makespan_two_lines(doc: Doc) -> Result:
    # max(load1, load2) linearized with an epigraph variable: a MILP in HiGHS
    line1 = [42, 35, 58, 27, 64, 31, 50]
    line2 = [38, 30, 46, 25, 52, 29, 41]
    h = new_highs()
    on1 = [h.addBinary() for _ in line1]  # 1: line 1, 0: line 2
    span = h.addVariable(lb=0)
    h.addConstr(span - sum(t * x for t, x in zip(line1, on1, strict=True)) >= 0)
    h.addConstr(span - sum(t * (1 - x) for t, x in zip(line2, on1, strict=True)) >= 0)
    return solve_highs(h, "min", span)


# --------------------------------------------------------------------------- QP builders


def ref_portfolio_markowitz(doc: Doc) -> Result:
    funds = elements(doc, "Funds")
    mu, cov = vec(doc, "expected_return"), mat(doc, "cov")
    h = new_highs()
    w = [h.addVariable(lb=0, ub=0.4) for _ in funds]
    h.addConstr(sum(w) == 1)
    h.addConstr(sum(mu[f] * w[i] for i, f in enumerate(funds)) >= 0.075)
    q = np.array([[cov[a, b] for b in funds] for a in funds])
    return solve_highs_qp(h, 0, 2 * q)


def ref_least_squares_calibration(doc: Doc) -> Result:
    v, temp = vec(doc, "volts"), vec(doc, "temp")
    a = np.array([[1.0, v[r], v[r] ** 2] for r in v])
    t = np.array([temp[r] for r in v])
    h = new_highs()
    c = [h.addVariable(lb=-0.5, ub=0.5), h.addVariable(lb=-INF), h.addVariable(lb=-INF)]
    # ||A c - t||^2 = c'(A'A)c - 2 t'A c + t't
    lin = sum(float(g) * ci for g, ci in zip(-2 * a.T @ t, c, strict=True)) + float(t @ t)
    return solve_highs_qp(h, lin, 2 * a.T @ a)


def ref_economic_dispatch(doc: Doc) -> Result:
    units = [  # a, b, c, pmin, pmax
        (500, 18.0, 0.0040, 100, 400),
        (450, 19.5, 0.0035, 80, 350),
        (300, 24.0, 0.0060, 50, 300),
        (120, 38.0, 0.0150, 0, 150),
    ]
    h = new_highs()
    p = [h.addVariable(lb=u[3], ub=u[4]) for u in units]
    h.addConstr(sum(p) == 850)
    h.addConstr(p[2] + p[3] >= 0.2 * 850)
    lin = sum(u[1] * x for u, x in zip(units, p, strict=True)) + sum(u[0] for u in units)
    return solve_highs_qp(h, lin, np.diag([2 * u[2] for u in units]))


# --------------------------------------------------------------------------- SCIP builders


def ref_portfolio_cardinality(doc: Doc) -> Result:
    stocks = elements(doc, "Stocks")
    mu, cov = vec(doc, "mu"), mat(doc, "cov")
    m = new_scip()
    w = {s: m.addVar(lb=0, ub=1) for s in stocks}
    z = {s: m.addVar(vtype="B") for s in stocks}
    m.addCons(pyscipopt.quicksum(w.values()) == 1)
    m.addCons(pyscipopt.quicksum(mu[s] * w[s] for s in stocks) >= 0.095)
    m.addCons(pyscipopt.quicksum(z.values()) <= 3)
    for s in stocks:
        m.addCons(w[s] >= 0.15 * z[s])
        m.addCons(w[s] <= 0.6 * z[s])
    var = pyscipopt.quicksum(cov[a, b] * w[a] * w[b] for a in stocks for b in stocks)
    return solve_scip(m, "min", var, nonlinear=True)


def ref_ad_budget_response(doc: Doc) -> Result:
    channels = {"search": (40, 10), "social": (35, 15), "tv": (60, 40), "radio": (15, 8)}
    m = new_scip()
    x = {c: m.addVar(lb=0, ub=120) for c in channels}
    m.addCons(pyscipopt.quicksum(x.values()) <= 120)
    m.addCons(x["tv"] >= 20)
    leads = pyscipopt.quicksum(r * pyscipopt.log(1 + x[c] / s) for c, (r, s) in channels.items())
    return solve_scip(m, "max", leads, nonlinear=True)


def ref_tank_design(doc: Doc) -> Result:
    m = new_scip()
    r = m.addVar(lb=0.5, ub=5)
    h = m.addVar(lb=0, ub=4)
    m.addCons(math.pi * r * r * h >= 50)
    cost = 30 * 2 * math.pi * r * r + 20 * 2 * math.pi * r * h
    return solve_scip(m, "min", cost, nonlinear=True)


def ref_depot_weber_location(doc: Doc) -> Result:
    # second-order-cone form: d_s >= distance to store s, minimize sum(trips * d)
    stores = {
        "A": (-4, 2, 12),
        "B": (3, 8, 20),
        "C": (7, -1, 15),
        "D": (0, -6, 10),
        "E": (10, 5, 8),
    }
    m = new_scip()
    x = m.addVar(lb=None, ub=3)
    y = m.addVar(lb=None, ub=None)
    d = {s: m.addVar(lb=0) for s in stores}
    for s, (sx, sy, _) in stores.items():
        m.addCons((x - sx) * (x - sx) + (y - sy) * (y - sy) <= d[s] * d[s])
    total = pyscipopt.quicksum(trips * d[s] for s, (_, _, trips) in stores.items())
    return solve_scip(m, "min", total, nonlinear=False)


def ref_pricing_exp_demand(doc: Doc) -> Result:
    blends = {"standard": (1000, 0.05, 20), "premium": (600, 0.025, 35)}
    m = new_scip()
    p = {b: m.addVar(lb=0, ub=200) for b in blends}
    q = {b: m.addVar(lb=0) for b in blends}
    for b, (size, sens, _) in blends.items():
        m.addCons(q[b] == size * pyscipopt.exp(-sens * p[b]))
    m.addCons(pyscipopt.quicksum(q.values()) <= 180)
    profit = pyscipopt.quicksum((p[b] - cost) * q[b] for b, (_, _, cost) in blends.items())
    return solve_scip(m, "max", profit, nonlinear=True)


def ref_highway_depot_abs(doc: Doc) -> Result:
    # |depot - marker| linearized with split deviations: an LP in HiGHS
    towns = [(5, 3), (22, 5), (37, 2), (58, 6), (71, 4), (93, 3)]
    h = new_highs()
    depot = h.addVariable(lb=40, ub=55)
    above = [h.addVariable(lb=0) for _ in towns]
    below = [h.addVariable(lb=0) for _ in towns]
    for k, (marker, _) in enumerate(towns):
        h.addConstr(depot - marker - above[k] + below[k] == 0)
    return solve_highs(h, "min", sum(r * (above[k] + below[k]) for k, (_, r) in enumerate(towns)))


def ref_scooter_kits_min(doc: Doc) -> Result:
    # max min(decks, wheels / 2, handlebars) as an LP with a kit-count variable
    h = new_highs()
    decks, wheels, bars, kits = (h.addVariable(lb=0) for _ in range(4))
    h.addConstr(kits - decks <= 0)
    h.addConstr(2 * kits - wheels <= 0)
    h.addConstr(kits - bars <= 0)
    h.addConstr(12 * decks + 4 * wheels + 8 * bars <= 120 * 60)
    h.addConstr(9 * decks + 3.5 * wheels + 6 * bars <= 3000)
    return solve_highs(h, "max", kits)


def ref_freezer_order_batching(doc: Doc) -> Result:
    products = {"fries": (5200, 180, 9), "nuggets": (3100, 150, 12)}
    m = new_scip()
    n = {k: m.addVar(vtype="I", lb=1, ub=52) for k in products}
    lot = {k: m.addVar(lb=0, ub=700) for k in products}
    for k, (need, _, _) in products.items():
        m.addCons(n[k] * lot[k] >= need)
    m.addCons(pyscipopt.quicksum(lot.values()) <= 700)
    cost = pyscipopt.quicksum(
        fee * n[k] + hold * lot[k] / 2 for k, (_, fee, hold) in products.items()
    )
    return solve_scip(m, "min", cost, nonlinear=False)


# --------------------------------------------------------------------------- registry & tests

BUILDERS: dict[str, Callable[[Doc], Result]] = {
    name.removeprefix("ref_"): fn
    for name, fn in sorted(globals().items())
    if name.startswith("ref_") and callable(fn)
}


def test_every_sample_has_a_reference_builder() -> None:
    assert len(SAMPLE_IDS) >= 32
    missing = sorted(set(SAMPLE_IDS) - set(BUILDERS))
    stale = sorted(set(BUILDERS) - set(SAMPLE_IDS))
    assert not missing, f"samples without a reference builder: {missing}"
    assert not stale, f"reference builders without a sample: {stale}"


@pytest.mark.parametrize("sample_id", SAMPLE_IDS)
def test_sample_file_shape(sample_id: str) -> None:
    doc = load(sample_id)
    assert isinstance(doc, dict)
    assert set(doc) == REQUIRED_KEYS, f"keys: {sorted(doc)}"
    assert doc["id"] == sample_id
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", sample_id)
    assert isinstance(doc["title"], str) and doc["title"].strip()
    assert doc["model_class"] in MODEL_CLASSES
    assert isinstance(doc["tags"], list) and all(isinstance(t, str) for t in doc["tags"])
    assert isinstance(doc["problem"], str) and len(doc["problem"]) > 100
    answer = doc["answer"]
    assert set(answer) == {"status", "objective"}
    assert answer["status"] in STATUSES
    if answer["status"] == "optimal":
        assert isinstance(answer["objective"], int | float)
    else:
        assert answer["objective"] is None
    form = doc["formulation"]
    assert {"variables", "objective"} <= set(form)
    assert form["objective"]["sense"] in ("minimize", "maximize")


def test_sample_set_coverage() -> None:
    docs = [load(i) for i in SAMPLE_IDS]
    classes = [d["model_class"] for d in docs]
    minimum = {"LP": 12, "MILP": 10, "QP": 3, "MIQP": 1, "NLP": 3, "MINLP": 2}
    for cls, count in minimum.items():
        assert classes.count(cls) >= count, f"only {classes.count(cls)} {cls} samples"
    statuses = [(d["answer"]["status"], d["model_class"]) for d in docs]
    assert sum(s == "infeasible" for s, _ in statuses) >= 2
    assert ("infeasible", "MILP") in statuses
    assert sum(s == "unbounded" for s, _ in statuses) >= 2


@pytest.mark.parametrize("sample_id", SAMPLE_IDS)
def test_reference_answer(sample_id: str) -> None:
    if sample_id not in BUILDERS:
        pytest.fail(f"no reference builder for {sample_id}")
    doc = load(sample_id)
    status, objective = BUILDERS[sample_id](doc)
    expected = doc["answer"]
    assert status == expected["status"]
    if expected["status"] == "optimal":
        assert objective is not None
        want = float(expected["objective"])
        assert abs(objective - want) <= 1e-6 * (1 + abs(want)), (objective, want)
