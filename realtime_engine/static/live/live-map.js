/* databus live map: draws the current feed's network, streams vehicles from /ws/live/.
 *
 * Data flow: GET /live/network.json (routes, shapes, stops) once; a WebSocket subscribed
 * to "all" gives a snapshot, then position / run_state / stop_status / feed_status / alert
 * messages (docs/api/websocket.md). A click on a vehicle or a run row loads
 * /api/runs/{id}/ and /api/runs/{id}/history/. Active service alerts are listed in their
 * panel; the routes and stops they name are drawn over in the alert style (dashed orange
 * lines, ringed stops), and a click on one of them or on the panel's entry shows the
 * alert. A snapshot replaces the alerts shown; an "alert" message that is no longer active
 * (ended, or outside its periods) removes one. Everything is served by this server.
 * The WebSocket authenticates with the page's session cookie (same origin, so the
 * server's Origin check admits it); no ticket is needed.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  const SNAPSHOT_REFRESH_MS = 15000; // predictions and stop status are refreshed from snapshots
  const STATE_COLORS = {
    "Requested": "#9aa5b4", "Validated": "#9aa5b4", "Initialized": "#7e57c2",
    "Confirmed": "#5c6bc0", "Tracking": "#1e88e5", "In Progress": "#2e7d32",
    "No Signal": "#f9a825", "Completed": "#455a64", "Interrupted": "#c62828",
    "Short Turned": "#ef6c00", "Cancelled": "#6d4c41",
  };
  const NO_RUN_COLOR = "#78909c";
  const ALERT_COLOR = "#ef6c00";
  // GTFS-RT SeverityLevel names, most severe first.
  const SEVERITY_ORDER = ["SEVERE", "WARNING", "INFO", "UNKNOWN_SEVERITY"];
  const SEVERITY_COLORS = { SEVERE: "#c62828", WARNING: "#ef6c00", INFO: "#1e88e5", UNKNOWN_SEVERITY: "#78909c" };

  const vehicles = new Map(); // vehicle_id -> {data, marker}
  const runs = new Map(); // run_id -> run view
  const alerts = new Map(); // alert_id -> alert view (active ones only)
  const network = { routes: new Map(), stops: new Map() }; // route_id -> route, stop_id -> stop
  let selectedVehicle = null;
  let shownAlert = null; // the alert the detail panel shows, if any
  let socket = null;
  let retryMs = 1000;

  const map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: false });
  map.setView([0, 0], 2);
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
  }
  const alertLayer = L.layerGroup().addTo(map); // redrawn whenever the active alerts change

  function colorOf(vehicle) {
    const run = vehicle.run_id && runs.get(vehicle.run_id);
    return run ? (STATE_COLORS[run.state] || NO_RUN_COLOR) : NO_RUN_COLOR;
  }

  function iconOf(vehicle) {
    const bearing = typeof vehicle.bearing === "number" ? vehicle.bearing : 0;
    const arrow = typeof vehicle.bearing === "number"
      ? `<path d="M0,-18 L7,-6 L-7,-6 Z" fill="${colorOf(vehicle)}" stroke="#fff" stroke-width="1"/>`
      : "";
    const svg = `<svg width="36" height="36" viewBox="-18 -18 36 36">
        <g transform="rotate(${bearing})">${arrow}
        <circle r="7" fill="${colorOf(vehicle)}" stroke="#fff" stroke-width="2"/></g></svg>`;
    const selected = vehicle.vehicle_id === selectedVehicle ? " selected" : "";
    return L.divIcon({ className: "vehicle-marker" + selected, html: svg, iconSize: [36, 36],
                       iconAnchor: [18, 18] });
  }

  function upsertVehicle(update) {
    const known = vehicles.get(update.vehicle_id);
    const data = Object.assign(known ? known.data : {}, update);
    if (typeof data.latitude !== "number" || typeof data.longitude !== "number") {
      vehicles.set(update.vehicle_id, { data, marker: known && known.marker });
      return;
    }
    let marker = known && known.marker;
    if (!marker) {
      marker = L.marker([data.latitude, data.longitude], { icon: iconOf(data), keyboard: false });
      marker.on("click", () => selectVehicle(data.vehicle_id));
      marker.addTo(map);
      marker.getElement().dataset.vehicleId = data.vehicle_id;
    } else {
      marker.setLatLng([data.latitude, data.longitude]);
      marker.setIcon(iconOf(data));
      marker.getElement().dataset.vehicleId = data.vehicle_id;
    }
    marker.getElement().title = `${data.vehicle_id}` + (data.route_id ? ` · route ${data.route_id}` : "");
    vehicles.set(data.vehicle_id, { data, marker });
  }

  function refreshMarkers() {
    for (const { data, marker } of vehicles.values()) {
      if (marker) {
        marker.setIcon(iconOf(data));
        marker.getElement().dataset.vehicleId = data.vehicle_id;
      }
    }
  }

  function timeOf(epoch) {
    return epoch ? new Date(epoch * 1000).toLocaleTimeString() : "";
  }

  function text(tag, value, className) {
    const node = document.createElement(tag);
    node.textContent = value == null ? "" : String(value);
    if (className) node.className = className;
    return node;
  }

  function stateBadge(state) {
    const badge = text("span", state, "state");
    badge.style.background = STATE_COLORS[state] || NO_RUN_COLOR;
    return badge;
  }

  function renderRuns() {
    const body = document.querySelector("#runs tbody");
    body.replaceChildren();
    const ordered = [...runs.values()].sort((a, b) =>
      (a.route_id || "").localeCompare(b.route_id || "") || (a.vehicle_id || "").localeCompare(b.vehicle_id || ""));
    for (const run of ordered) {
      const row = document.createElement("tr");
      row.className = "run-row" + (run.vehicle_id && run.vehicle_id === selectedVehicle ? " selected" : "");
      row.dataset.runId = run.run_id;
      const next = run.next_stop;
      const status = run.stop_status;
      const nextStop = next ? next.stop_id : (status ? status.stop_id || `#${status.current_stop_sequence}` : "");
      const stateCell = document.createElement("td");
      stateCell.append(stateBadge(run.state));
      row.append(text("td", run.route_id), text("td", run.vehicle_id), stateCell,
                 text("td", nextStop), text("td", next ? timeOf(next.arrival || next.departure) : ""));
      row.addEventListener("click", () => run.vehicle_id ? selectVehicle(run.vehicle_id) : showRun(run.run_id));
      body.append(row);
    }
    document.getElementById("run-count").textContent = `(${runs.size})`;
  }

  function selectVehicle(vehicleId) {
    selectedVehicle = vehicleId;
    refreshMarkers();
    renderRuns();
    const vehicle = vehicles.get(vehicleId);
    const runId = vehicle && vehicle.data.run_id;
    if (runId) {
      showRun(runId);
    } else {
      showDetail(`Vehicle ${vehicleId}`, { vehicle: vehicleId, run: "none" }, []);
    }
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  async function showRun(runId) {
    try {
      const [run, history] = await Promise.all([
        getJson(`/api/runs/${encodeURIComponent(runId)}/`),
        getJson(`/api/runs/${encodeURIComponent(runId)}/history/`),
      ]);
      showDetail(`Run ${run.trip_id}`, {
        run: run.id, state: run.run_lifecycle_state, vehicle: run.vehicle_id, route: run.route_id,
        trip: run.trip_id, "service day": run.start_date, "start time": run.start_time,
        "last event": run.last_event,
      }, history);
    } catch (error) {
      const live = runs.get(runId) || {};
      showDetail(`Run ${runId}`, { run: runId, state: live.state, note: String(error) }, []);
    }
  }

  function showDetail(title, fields, history) {
    shownAlert = null;
    document.getElementById("detail").hidden = false;
    // An alert has no transitions (history null): no heading for them either.
    document.getElementById("detail-history-title").hidden = history === null;
    document.getElementById("detail-title").textContent = title;
    const list = document.getElementById("detail-fields");
    list.replaceChildren();
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined || value === null || value === "") continue;
      list.append(text("dt", name), text("dd", value));
    }
    const items = document.getElementById("detail-history");
    items.replaceChildren();
    for (const transition of history || []) {
      const when = new Date(transition.created_at).toLocaleTimeString();
      const verdict = transition.accepted ? "" : ` (refused: ${transition.refusal})`;
      items.append(text("li", `${when} ${transition.event}: ${transition.from_state} → ${transition.to_state}${verdict}`,
                        transition.accepted ? "" : "refused"));
    }
  }

  function applySnapshot(message) {
    for (const run of message.runs) runs.set(run.run_id, run);
    for (const vehicle of message.vehicles) upsertVehicle(vehicle);
    if (Array.isArray(message.alerts)) {
      alerts.clear();
      for (const alert of message.alerts) if (alert.active) alerts.set(alert.alert_id, alert);
      renderAlerts();
    }
    refreshMarkers();
    renderRuns();
  }

  // --- service alerts ---------------------------------------------------------------

  function applyAlert(message) {
    const alert = message.alert;
    const active = alert.active && message.action !== "ended";
    if (active) {
      alerts.set(alert.alert_id, alert);
    } else {
      alerts.delete(alert.alert_id);
    }
    renderAlerts();
    if (shownAlert === alert.alert_id) showAlert(alert, active ? "active" : message.action);
  }

  function orderedAlerts() {
    const rank = (alert) => {
      const index = SEVERITY_ORDER.indexOf(alert.severity);
      return index < 0 ? SEVERITY_ORDER.length : index;
    };
    return [...alerts.values()].sort((a, b) => rank(a) - rank(b) || b.alert_id - a.alert_id);
  }

  function routeLabel(routeId) {
    const route = network.routes.get(routeId);
    return route && route.short_name ? route.short_name : routeId;
  }

  function stopLabel(stopId) {
    const stop = network.stops.get(stopId);
    return stop && stop.name ? `${stop.name} (${stopId})` : stopId;
  }

  function severityBadge(severity) {
    const badge = text("span", (severity || "").replace("_SEVERITY", ""), "severity");
    badge.style.background = SEVERITY_COLORS[severity] || NO_RUN_COLOR;
    return badge;
  }

  function showAlert(alert, status = "active") {
    showDetail(`Alert: ${alert.header}`, {
      status: status === "active" ? "active" : `${status}: no longer shown`,
      severity: alert.severity, effect: alert.effect, cause: alert.cause,
      routes: (alert.route_ids || []).map(routeLabel).join(", "),
      stops: (alert.stop_ids || []).map(stopLabel).join(", "),
      alert: `#${alert.alert_id}`,
    }, null);
    shownAlert = alert.alert_id;
  }

  function showAlerts(list, where) {
    if (list.length === 1) { showAlert(list[0]); return; }
    const fields = {};
    for (const alert of list) fields[`${alert.severity} ${alert.effect}`] = alert.header;
    showDetail(`${list.length} alerts on ${where}`, fields, null);
  }

  function renderAlertPanel(ordered) {
    const list = document.getElementById("alerts");
    list.replaceChildren();
    for (const alert of ordered) {
      const item = document.createElement("li");
      item.className = "alert-item";
      item.dataset.alertId = String(alert.alert_id);
      const where = [...(alert.route_ids || []).map((id) => `route ${routeLabel(id)}`),
                     ...(alert.stop_ids || []).map((id) => `stop ${stopLabel(id)}`)].join(" · ");
      item.append(severityBadge(alert.severity), text("span", alert.effect, "effect"),
                  text("span", alert.header, "header"), text("span", where, "where"));
      item.addEventListener("click", () => showAlert(alert));
      list.append(item);
    }
    if (!ordered.length) list.append(text("li", "no active alerts", "none"));
    document.getElementById("alert-count").textContent = `(${ordered.length})`;
  }

  function renderAlertLayer(ordered) {
    alertLayer.clearLayers();
    const byRoute = new Map();
    const byStop = new Map();
    for (const alert of ordered) {
      for (const id of alert.route_ids || []) byRoute.set(id, [...(byRoute.get(id) || []), alert]);
      for (const id of alert.stop_ids || []) byStop.set(id, [...(byStop.get(id) || []), alert]);
    }
    for (const [routeId, named] of byRoute) {
      const route = network.routes.get(routeId);
      for (const shape of route ? route.shapes : []) {
        if (!shape.length) continue;
        const line = L.polyline(shape, { color: ALERT_COLOR, weight: 7, opacity: 0.9, dashArray: "10 8",
                                         className: "alert-route" });
        line.on("click", () => showAlerts(named, `route ${routeLabel(routeId)}`));
        line.bindTooltip(`${named.length} alert(s) on route ${routeLabel(routeId)}`);
        line.addTo(alertLayer);
        line.getElement().dataset.routeId = routeId;
      }
    }
    for (const [stopId, named] of byStop) {
      const stop = network.stops.get(stopId);
      if (!stop) continue;
      const ring = L.circleMarker([stop.lat, stop.lon], { radius: 9, color: ALERT_COLOR, weight: 3,
                                                          fillOpacity: 0, className: "alert-stop" });
      ring.on("click", () => showAlerts(named, `stop ${stopLabel(stopId)}`));
      ring.bindTooltip(`${named.length} alert(s) at ${stopLabel(stopId)}`);
      ring.addTo(alertLayer);
      ring.getElement().dataset.stopId = stopId;
    }
  }

  function renderAlerts() {
    const ordered = orderedAlerts();
    renderAlertPanel(ordered);
    renderAlertLayer(ordered);
  }

  function applyRunState(message) {
    const run = runs.get(message.run_id) || { run_id: message.run_id };
    Object.assign(run, { state: message.state, vehicle_id: message.vehicle_id || run.vehicle_id,
                         route_id: message.route_id || run.route_id, trip_id: message.trip_id || run.trip_id });
    runs.set(run.run_id, run);
    refreshMarkers();
    renderRuns();
  }

  function handle(message) {
    switch (message.type) {
      case "snapshot": applySnapshot(message); break;
      case "position": for (const v of message.vehicles) upsertVehicle(v); break;
      case "run_state": applyRunState(message); break;
      case "alert": applyAlert(message); break;
      case "stop_status": {
        const run = runs.get(message.run_id);
        if (run) { run.stop_status = message.status; renderRuns(); }
        break;
      }
      case "feed_status":
        document.getElementById("feed-status").textContent =
          `${message.feed} built ${timeOf(message.header_timestamp)}`;
        break;
      case "error": console.warn("live:", message.code, message.detail); break;
      default: break; // subscribed, unsubscribed, ping, pong
    }
  }

  function setConnection(state, label) {
    const node = document.getElementById("connection");
    node.className = "status " + state;
    node.textContent = label;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${config.wsPath}`);
    socket.addEventListener("open", () => {
      retryMs = 1000;
      setConnection("ok", "live");
      socket.send(JSON.stringify({ type: "subscribe", topic: "all" }));
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      // Neither comes right by retrying: sign in again, or ask for the dispatcher role.
      if (event.code === 4401) { setConnection("down", "not logged in"); return; }
      if (event.code === 4403) { setConnection("down", "the live map is for dispatchers"); return; }
      setConnection("down", `reconnecting (closed ${event.code})`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
  }

  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "subscribe", topic: "all" }));
    }
  }, SNAPSHOT_REFRESH_MS);

  async function drawNetwork() {
    const drawn = await getJson("/live/network.json");
    for (const route of drawn.routes) network.routes.set(route.route_id, route);
    for (const stop of drawn.stops) network.stops.set(stop.stop_id, stop);
    const bounds = L.latLngBounds([]);
    // No orange: that is the alerts' colour.
    const palette = ["#1565c0", "#c2185b", "#00897b", "#6a1b9a", "#283593", "#558b2f"];
    drawn.routes.forEach((route, index) => {
      const color = route.color || palette[index % palette.length];
      for (const shape of route.shapes) {
        if (!shape.length) continue;
        L.polyline(shape, { color, weight: 4, opacity: 0.7 })
          .bindTooltip(`${route.short_name || route.route_id} ${route.long_name || ""}`).addTo(map);
        shape.forEach((point) => bounds.extend(point));
      }
    });
    for (const stop of drawn.stops) {
      L.circleMarker([stop.lat, stop.lon], { radius: 3, color: "#37474f", weight: 1, fillColor: "#fff", fillOpacity: 1 })
        .bindTooltip(`${stop.name || stop.stop_id}`).addTo(map);
      if (!drawn.routes.length) bounds.extend([stop.lat, stop.lon]);
    }
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
  }

  drawNetwork().catch((error) => console.warn("live: network", error)).finally(connect);
})();
