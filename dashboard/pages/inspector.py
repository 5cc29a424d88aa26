"""Waybill inspector: search by waybill number or plate; one map with both sources' fixes, the cleaned track,
stops, loading and unloading places, each fired rule's offending segments, a copied track's source; the verdict
with every rule's reason and numbers; a time slider that plays the truck's movement back.

Data: ``supervision.waybills.service`` (search and the scoped detail; out of scope answers like unknown) and
``trajectories.maps`` (the map GeoJSON), each given the viewer's Scope.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from dash import Input, Output, Patch, State, ctx, dcc, html, no_update
from deckgl_dash import DeckGL

from core.errors import NotFoundError
from dashboard import maps
from dashboard.i18n import t
from dashboard.session import db, viewer
from geo import outlines as geo_outlines
from supervision.anomalies import service as anomalies_service
from supervision.waybills import service as waybills_service
from trajectories import maps as trajectory_maps

__all__ = ["InspectorMap", "inspector_layers", "refined_fixes", "register", "render"]

#: Trailing window of the playback (share of the waybill's time span) and the sweep's wall-clock length.
_WINDOW_SHARE = 0.04
_SWEEP_S = 20.0
_LINE_EVIDENCE = {"speed_segment", "conflict_segment", "gap"}


def _search(q: str) -> list[dict[str, Any]]:
    q = (q or "").strip()
    if not q:
        return []
    scope = viewer().scope
    with db() as session:
        found = waybills_service.list_waybills(
            db_session=session, scope=scope, filters=waybills_service.WaybillFilter(shipping_note_number=q), limit=20)
        if not found.items:
            found = waybills_service.list_waybills(
                db_session=session, scope=scope, filters=waybills_service.WaybillFilter(vehicle_number=q), limit=50)
        return [{"id": w.id, "number": w.shipping_note_number, "despatchAt": w.despatch_at} for w in found.items]


def _place_feature(f: dict[str, Any]) -> dict[str, Any]:
    """A place's circle, or its division's outline when the place was known only by its division code."""
    props = f["properties"]
    code = props.get("divisionCode")
    if not props.get("fromCoordinates") and code and geo_outlines.has_outline(code):
        import shapely

        geom = shapely.simplify(geo_outlines.outline(code), 0.001, preserve_topology=True)
        return {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}
    return f


def _points(features: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coords = [c for f in features for c in f["geometry"]["coordinates"]]
    times = [x for f in features for x in f["properties"]["t"]]
    if not coords:
        return np.empty(0), np.empty(0), np.empty(0)
    a = np.asarray(coords, dtype=np.float64)
    return a[:, 0], a[:, 1], np.asarray(times, dtype=np.float64)


class InspectorMap(NamedTuple):
    layers: list[dict[str, Any]]
    counts: dict[str, int]  # per legend entry
    time_filter: dict[str, Any] | None
    bounds: list | None
    #: per source drawn thinned: its layer's index in ``layers``, fixes in all and drawn (refined on zoom)
    thinned: dict[str, dict[str, int]]
    t0: float  # epoch seconds the time attributes count from


def inspector_layers(fc: dict[str, Any], copy_source: list[dict[str, Any]] | None = None) -> InspectorMap:
    """The map layers of one waybill's GeoJSON (``trajectories.maps``), the count per layer (the legend), the
    playback's time filter, the bounds to frame and the sources drawn thinned at the initial zoom."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in fc["features"]:
        by_kind.setdefault(f["properties"]["kind"], []).append(f)
    fixes = {src: [f for f in by_kind.get("fixes", []) if f["properties"].get("source") == src]
             for src in ("app", "beidou")}
    pts = {src: _points(fs) for src, fs in fixes.items()}
    all_t = np.concatenate([p[2] for p in pts.values()])
    t0 = float(all_t.min()) if all_t.size else 0.0
    span = float(all_t.max() - t0) if all_t.size else 0.0
    layers = maps.base_layers()
    counts: dict[str, int] = {}
    places = [_place_feature(f) for f in by_kind.get("loading_place", []) + by_kind.get("unloading_place", [])]
    for kind in ("loading_place", "unloading_place"):
        feats = [f for f in places if f["properties"]["kind"] == kind]
        counts[kind] = len(feats)
        if feats:
            layers.append(maps.geojson_layer(kind, feats, line_color=maps.COLORS[kind][:3] + [255],
                                             fill_color=maps.COLORS[kind], line_width_px=2))
    for src in ("app", "beidou"):
        feats = [f for f in by_kind.get("trajectory", []) if f["properties"].get("source") == src]
        counts[f"track_{src}"] = sum(len(f["geometry"].get("coordinates", [])) for f in feats)
        if feats:
            layers.append(maps.geojson_layer(f"track-{src}", feats, line_color=maps.COLORS[f"track_{src}"],
                                             line_width_px=3))
    if copy_source:
        counts["copy_source"] = sum(len(f["geometry"].get("coordinates", [])) for f in copy_source)
        layers.append(maps.geojson_layer("copy-source", copy_source, line_color=maps.COLORS["copy_source"],
                                         line_width_px=3))
    bounds = _bounds(pts, places)
    zoom = maps.view_of(bounds)["zoom"]
    thinned: dict[str, dict[str, int]] = {}
    for src in ("app", "beidou"):
        lon, lat, tt = pts[src]
        counts[f"fixes_{src}"] = int(lon.size)
        if lon.size:
            keep = maps.thin_indices(lon, lat, zoom)  # a huge source drawn at screen resolution (≤ MAX_POINTS)
            if keep.size < lon.size:
                thinned[src] = {"index": len(layers), "total": int(lon.size), "drawn": int(keep.size)}
            layers.append(maps.fixes_layer(f"fixes-{src}", lon[keep], lat[keep], maps.COLORS[src],
                                           t_rel=tt[keep] - t0))
    stops = by_kind.get("stop", [])
    counts["stops"] = len(stops)
    if stops:
        layers.append(maps.geojson_layer("stops", stops, line_color=[255, 255, 255, 255],
                                         fill_color=maps.COLORS["stop"], point_radius_px=6))
    evidence = by_kind.get("evidence", [])
    offending = [f for f in evidence if f["properties"].get("evidenceKind") in _LINE_EVIDENCE]
    removed = [f for f in evidence if f["properties"].get("evidenceKind") == "removed_fix"]
    counts["offending"] = len(offending)
    if offending:
        layers.append(maps.geojson_layer("offending", offending, line_color=maps.COLORS["offending"],
                                         line_width_px=6))
    if removed:
        layers.append(maps.geojson_layer("removed", removed, line_color=maps.COLORS["removed"],
                                         fill_color=maps.COLORS["removed"], point_radius_px=3))
    time_filter = None
    if span > 0:
        # Everything visible until Play: the window is the whole span, the head at its end.
        time_filter = {"domain": [0.0, span], "window": span, "current": span, "playing": False,
                       "speed": span / _SWEEP_S, "loop": True,
                       "layerIds": [f"fixes-{s}" for s in ("app", "beidou") if pts[s][0].size]}
    return InspectorMap(layers, counts, time_filter, bounds, thinned, t0)


def _bounds(pts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], places: list[dict[str, Any]]
            ) -> list[list[float]] | None:
    """The box framing every fix and the loading and unloading places."""
    lon = np.concatenate([pts[s][0] for s in pts] + [np.array([f["properties"].get("lon", np.nan)
                                                               for f in places], dtype=float)])
    lat = np.concatenate([pts[s][1] for s in pts] + [np.array([f["properties"].get("lat", np.nan)
                                                               for f in places], dtype=float)])
    return maps.bounds_of(lon, lat)


def _copy_source(session, scope, detail: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tracks a copied track was copied from (when the viewer may see that waybill), with their numbers."""
    lines: list[dict[str, Any]] = []
    labels: list[str] = []
    for a in detail["anomalies"]:
        if a["code"] != "TRACK_DUPLICATED":
            continue
        anomaly = anomalies_service.get(db_session=session, scope=scope, anomaly_id=a["id"])
        other = (anomaly.evidence or {}).get("otherWaybillId") if anomaly is not None else None
        if other is None or other == detail["id"]:
            continue
        other_detail = waybills_service.waybill_detail(db_session=session, scope=scope, waybill_id=int(other))
        if other_detail is None:
            continue  # the source belongs to a platform out of this viewer's scope: not drawn, not named
        ofc = trajectory_maps.trajectory_geojson(session, int(other), scope=scope)
        lines.extend(f for f in ofc["features"] if f["properties"]["kind"] == "trajectory")
        labels.append(other_detail["shippingNoteNumber"])
    return lines, labels


def _verdict_panel(detail: dict[str, Any], fc: dict[str, Any], lang: str) -> html.Div:
    blocks = []
    for i, ver in enumerate(fc["verifications"], start=1):
        verdict = ver["verdict"]
        colon, lp, rp = (": ", " (", ")") if lang == "en" else ("：", "（", "）")
        head = (f"{t('verdict', lang)}{colon}{verdict}{lp}{t('verdict_' + verdict, lang)}{rp}" if verdict
                else f"{t('verdict', lang)}{colon}{t('not_verified', lang)}")
        rules = []
        for r in ver["rules"]:
            # The scalar numbers the rule compared (nested per-source details stay in the API's answer).
            numbers = ", ".join(f"{k}={_num(v)}" for k, v in (r.get("numbers") or {}).items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool))
            rules.append(html.Li([
                html.B(r["code"]), " ",
                html.Span(t("fired", lang) if r["fired"] else t("passed", lang),
                          className="fired" if r["fired"] else "passed"),
                html.Div(r["reasonEn"] if lang == "en" else r["reasonZh"], className="reason"),
                html.Div(numbers, className="numbers") if numbers else None,
            ], className="rule fired" if r["fired"] else "rule"))
        blocks.append(html.Div([
            html.H4(f"#{i} {t('vehicle', lang)} {ver['vehicleNumber']}"),
            html.Div(head, className=f"verdict verdict-{verdict or 'none'}", id=f"verdict-{i}"),
            html.Div(f"{t('despatch', lang)} {_beijing(ver['despatchAt'])} → {t('receipt', lang)} {_beijing(ver['receiptAt'])}",
                     className="muted"),
            html.Ul(rules, className="rules"),
        ]))
    vehicles = []
    for v in detail["vehicles"]:
        drivers = "，".join(f"{d['name']} {d['drivingLicense'] or ''}" for d in v["drivers"])
        goods = "，".join(f"{g['description']} {g['weightKg']} kg" for g in v["goods"])
        vehicles.append(html.Div([html.Span(f"{t('drivers', lang)}: {drivers}", className="drivers"), html.Br(),
                                  html.Span(f"{t('goods', lang)}: {goods}")], className="muted"))
    anomalies = [html.Li(f"{a['code']}: {a['reasonEn'] if lang == 'en' else a['reasonZh']}")
                 for a in detail["anomalies"]]
    return html.Div([*blocks, *vehicles,
                     html.H4(t("anomalies", lang)) if anomalies else None, html.Ul(anomalies)],
                    id="insp-verdicts")


def _beijing(iso: str) -> str:
    import datetime as dt

    from core.beijing import BEIJING

    return dt.datetime.fromisoformat(iso).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _legend(counts: dict[str, int], copy_labels: list[str], lang: str) -> html.Ul:
    names = {"fixes_app": "fixes_app", "fixes_beidou": "fixes_beidou", "track_app": "track",
             "track_beidou": "track", "stops": "stops", "loading_place": "loading_place",
             "unloading_place": "unloading_place", "offending": "offending", "copy_source": "copy_source"}
    colors = {"fixes_app": "app", "fixes_beidou": "beidou", "stops": "stop", "offending": "offending"}
    items = []
    for key, n in counts.items():
        rgb = maps.COLORS[colors.get(key, key)][:3]
        label = t(names[key], lang) + (f" ({key.split('_')[1]})" if key.startswith("track_") else "")
        if key == "copy_source" and copy_labels:
            label += " " + "、".join(copy_labels)
        items.append(html.Li([html.Span(className="swatch", style={"background": f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"}),
                              f"{label}: {n}"], **{"data-layer": key, "data-count": str(n)}))
    return html.Ul(items, id="insp-legend", className="legend")


def _detail(waybill_id: int, lang: str) -> Any:
    v = viewer()
    with db() as session:
        detail = waybills_service.waybill_detail(db_session=session, scope=v.scope, waybill_id=waybill_id)
        if detail is None:
            return html.Div(t("not_found", lang), id="insp-not-found", className="notice")
        try:
            fc = trajectory_maps.trajectory_geojson(session, waybill_id, scope=v.scope)
        except NotFoundError:
            return html.Div(t("not_found", lang), id="insp-not-found", className="notice")
        copy_lines, copy_labels = _copy_source(session, v.scope, detail)
    m = inspector_layers(fc, copy_lines)
    layers, counts, time_filter, bounds = m.layers, m.counts, m.time_filter, m.bounds
    view = maps.view_of(bounds)
    # A source too big to draw whole is drawn at screen resolution; zooming in asks the server for the fixes of
    # the part in view, thinned at the new zoom (the view state is watched only then).
    thin_meta = {"id": waybill_id, "t0": m.t0, "sources": m.thinned} if m.thinned else None
    deck = DeckGL(id="insp-map", layers=layers, initial_view_state=view, time_filter=time_filter,
                  enable_events=["viewStateChange"] if thin_meta else False,
                  style={"position": "relative", "width": "100%", "height": "100%"})
    span = time_filter["domain"][1] if time_filter else 0
    start = min((f["properties"]["t"][0] for f in fc["features"] if f["properties"]["kind"] == "fixes"
                 and f["properties"]["t"]), default=0)
    return html.Div([
        html.Div([
            html.Div(deck, className="map", id="insp-map-box"),
            html.Div([
                html.Button(t("play", lang), id="insp-play", n_clicks=0, className="btn"),
                dcc.Slider(id="insp-slider", min=0, max=max(span, 1), value=max(span, 1), step=1, marks=None,
                           updatemode="mouseup", allow_direct_input=False, className="slider"),
                html.Span("", id="insp-time", className="muted"),
                dcc.Store(id="insp-t0", data=start),
            ], className="playback"),
            html.Div(_thin_note(m.thinned, None, lang), id="insp-thin", className="muted"),
            dcc.Store(id="insp-thin-meta", data=thin_meta),
            dcc.Store(id="insp-view", data={k: view[k] for k in ("longitude", "latitude", "zoom")}),
        ], className="map-col"),
        html.Div([
            html.H3(f"{t('waybill_no', lang)} {detail['shippingNoteNumber']}", id="insp-title"),
            html.Div(f"{t('platform', lang)} {detail['operatorId']}", className="muted"),
            _legend(counts, copy_labels, lang),
            _verdict_panel(detail, fc, lang),
        ], className="side"),
    ], className="inspector")


def _thin_note(thinned: dict[str, dict[str, int]], in_box: dict[str, int] | None, lang: str) -> list[Any]:
    """One line per source drawn thinned: how many of its fixes are drawn (``data-*`` for tests and tools)."""
    lines = []
    for src, info in thinned.items():
        box = (in_box or {}).get(src, info["total"])
        key = "thin_note_all" if info["drawn"] >= box else "thin_note"
        text = t(key, lang).format(source=t(f"fixes_{src}", lang), drawn=info["drawn"], box=box,
                                           total=info["total"])
        lines.append(html.Div(text, id=f"insp-thin-{src}", **{
            "data-total": str(info["total"]), "data-drawn": str(info["drawn"]), "data-box": str(box)}))
    return lines


def render(query: dict[str, str], lang: str) -> Any:
    v = viewer()
    if v.scope.aggregates_only:
        return html.Div(t("analyst_no_documents", lang), className="notice", id="insp-not-allowed")
    q = query.get("q", "")
    search = html.Div([
        dcc.Input(id="insp-q", value=q, placeholder=t("search_hint", lang), debounce=True, className="input"),
        html.Button(t("search", lang), id="insp-search", n_clicks=0, className="btn"),
        html.Div(id="insp-results", children=_results(_search(q), lang) if q else None),
    ], className="searchbar")
    body = None
    if query.get("id", "").isdigit():
        body = _detail(int(query["id"]), lang)
    return html.Div([search, body])


def _results(rows: list[dict[str, Any]], lang: str) -> Any:
    if not rows:
        return html.Span(t("no_result", lang), className="muted", id="insp-no-result")
    from flask import request

    base = (request.script_root or "") + "/waybill"
    return html.Ul([html.Li(dcc.Link(f"{r['number']}  ({r['despatchAt']:%Y-%m-%d %H:%M})",
                                     href=f"{base}?id={r['id']}", refresh=True)) for r in rows],
                   className="results")


# The view state arrives on every frame of a pan or zoom: ask the server only when the zoom crosses a whole level
# or the view leaves the area fetched last (one view's width and height beyond it on each side).
_VIEW_JS = """
function(viewState, last) {
    const nu = window.dash_clientside.no_update;
    if (!viewState || viewState.zoom === undefined) { return nu; }
    const el = document.getElementById('insp-map');
    const w = el && el.clientWidth ? el.clientWidth : 900, h = el && el.clientHeight ? el.clientHeight : 470;
    function px(lon, lat, zoom) {
        const world = 512 * Math.pow(2, zoom);
        const s = Math.sin(Math.max(-85, Math.min(85, lat)) * Math.PI / 180);
        return [(lon + 180) / 360 * world, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * world];
    }
    if (last && Math.floor(last.zoom) === Math.floor(viewState.zoom)) {
        const [x, y] = px(viewState.longitude, viewState.latitude, viewState.zoom);
        const [x0, y0] = px(last.longitude, last.latitude, viewState.zoom);
        if (Math.abs(x - x0) < w && Math.abs(y - y0) < h) { return nu; }
    }
    return {longitude: viewState.longitude, latitude: viewState.latitude, zoom: viewState.zoom, width: w, height: h};
}
"""


def refined_fixes(waybill_id: int, meta: dict[str, Any], view: dict[str, Any], lang: str) -> tuple[Any, Any]:
    """The thinned sources' layers for the area around ``view`` (a patch of the map's layers) and the note."""
    box = maps.view_box(view["longitude"], view["latitude"], view["zoom"], view["width"], view["height"])
    v = viewer()
    with db() as session:
        if waybills_service.visible_waybill(session, v.scope, waybill_id) is None:
            return no_update, no_update
        pts = trajectory_maps.fixes_in_box(session, waybill_id, box, scope=v.scope)
    patch = Patch()
    thinned, in_box = {}, {}
    for src, info in meta["sources"].items():
        lon, lat, tt = pts[src]
        keep = maps.thin_indices(lon, lat, view["zoom"])
        layer = maps.fixes_layer(f"fixes-{src}", lon[keep], lat[keep], maps.COLORS[src], t_rel=tt[keep] - meta["t0"])
        patch[int(info["index"])]["data"] = layer["data"]
        thinned[src] = {**info, "drawn": int(keep.size)}
        in_box[src] = int(lon.size)
    return patch, _thin_note(thinned, in_box, lang)


def register(app) -> None:
    @app.callback(Output("insp-results", "children"), Input("insp-search", "n_clicks"), Input("insp-q", "value"),
                  prevent_initial_call=True)
    def search(_clicks, q):
        from dashboard.session import lang

        return _results(_search(q), lang())

    @app.callback(Output("insp-map", "timeFilter"), Output("insp-play", "children"),
                  Input("insp-play", "n_clicks"), Input("insp-slider", "value"), State("insp-map", "timeFilter"),
                  prevent_initial_call=True)
    def playback(_clicks, value, tf):
        from dashboard.session import lang

        if not tf:
            return no_update, no_update
        span = tf["domain"][1]
        tf = dict(tf)
        if ctx.triggered_id == "insp-play":
            playing = not tf.get("playing")
            tf["playing"] = playing
            tf["window"] = span * _WINDOW_SHARE if playing else span
            if playing and tf.get("current", span) >= span:
                tf["current"] = tf["window"]
        else:  # the slider: show the movement up to that moment, paused
            tf.update(playing=False, current=float(value), window=span * _WINDOW_SHARE)
        tf["nonce"] = int(tf.get("nonce", 0)) + 1
        return tf, t("pause" if tf["playing"] else "play", lang())

    app.clientside_callback(_VIEW_JS, Output("insp-view", "data"), Input("insp-map", "viewState"),
                            State("insp-view", "data"), prevent_initial_call=True)

    @app.callback(Output("insp-map", "layers"), Output("insp-thin", "children"), Input("insp-view", "data"),
                  State("insp-thin-meta", "data"), prevent_initial_call=True)
    def refine(view, meta):
        from dashboard.session import lang

        if not view or not meta or "width" not in view:
            return no_update, no_update
        return refined_fixes(int(meta["id"]), meta, view, lang())

    @app.callback(Output("insp-time", "children"), Input("insp-map", "currentTime"), State("insp-t0", "data"),
                  prevent_initial_call=True)
    def clock(current, t0):
        import datetime as dt

        if current is None:
            return no_update
        at = dt.datetime.fromtimestamp(float(t0) + float(current), dt.timezone(dt.timedelta(hours=8)))
        return at.strftime("%Y-%m-%d %H:%M:%S")
