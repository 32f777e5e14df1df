/// The live view's one page: plain HTML, CSS and JavaScript, nothing loaded from the network.
/// It listens to `/events` (server-sent events; the browser reconnects by itself) and draws
/// each message: the status line, the newest frame with its detections and communities, the
/// stage map growing region by region, and the newest decisions.
enum DashboardPage {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>ScopePilot live</title>
        <meta name="viewport" content="width=device-width,initial-scale=1">
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222}
        header{display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}
        h1{font-size:20px;margin:0}#phase{font-weight:bold;padding:1px 8px;border-radius:4px;background:#ddd}
        #phase.running{background:#c8f0c8}#phase.paused{background:#fde7b0}#phase.ended{background:#e4e4e4}
        .figures{display:flex;gap:1.4em;flex-wrap:wrap;margin:.6em 0}.figures div{min-width:6em}
        .figures b{display:block;font-size:22px}.figures span{color:#555;font-size:12px}
        main{display:grid;grid-template-columns:minmax(280px,1fr) minmax(320px,1.4fr);gap:1.2em}
        .panel{border:1px solid #ccc;border-radius:6px;padding:.6em}.panel h2{font-size:15px;margin:0 0 .4em}
        #frame{position:relative;width:100%;aspect-ratio:1;background:#111}
        #frame img,#frame svg{position:absolute;inset:0;width:100%;height:100%}#frame img{image-rendering:pixelated}
        #frame circle{fill:none;stroke:#ff3b30;stroke-width:2;vector-effect:non-scaling-stroke}
        #map{width:100%;height:460px;background:#fff;cursor:grab}
        #map .region{stroke:#333;stroke-width:1;vector-effect:non-scaling-stroke;fill-opacity:.55}
        #map .mark{fill:#e22}#map #order{fill:none;stroke:#555;stroke-opacity:.5;vector-effect:non-scaling-stroke}
        #map .newest{stroke:#ff3b30;stroke-width:3}
        table{border-collapse:collapse;width:100%;font-size:12px}td,th{padding:2px 6px;text-align:left;vertical-align:top}
        tr:nth-child(even){background:#f6f6f6}tr.trouble{background:#fde2e1}
        .legend,footer{color:#555;font-size:12px}
        </style></head>
        <body>
        <header><h1>ScopePilot live</h1><span id="phase">connecting</span><span id="session"></span>
        <span id="connection" class="legend"></span></header>
        <div class="figures">
        <div><b id="frames">0</b><span>frames</span></div><div><b id="analysed">0</b><span>analysed</span></div>
        <div><b id="decisions">0</b><span>decisions</span></div><div><b id="defects">0</b><span>defects</span></div>
        <div><b id="communities">0</b><span>communities</span></div><div><b id="drift">-</b><span>drift, nm/s</span></div>
        <div><b id="latency">-</b><span>latency p50, ms</span></div><div><b id="retrains">0</b><span>retrainings</span></div>
        </div>
        <p id="ending" class="legend"></p>
        <main>
        <section class="panel"><h2>Newest frame</h2><div id="frame"><img id="frame-image" alt="">
        <svg id="frame-overlay" preserveAspectRatio="none"></svg></div><p id="frame-caption" class="legend"></p></section>
        <section class="panel"><h2>Stage map</h2>
        <svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><g id="regions"></g><g id="marks"></g>
        <polyline id="order" points=""></polyline></svg>
        <p class="legend">Regions coloured by dose (log scale), detections in red, the line joins visits in order, the
        newest region outlined. Scroll to zoom, drag to pan, double-click to follow the session again. Sample
        coordinates, nm.</p></section>
        </main>
        <section class="panel" style="margin-top:1.2em"><h2>Newest decisions</h2>
        <table id="timeline"><thead><tr><th>time</th><th>action</th><th>what</th><th>why</th><th>outcome</th></tr></thead>
        <tbody></tbody></table></section>
        <footer><p>Read-only: this page follows the decision log and the daemon's status. <span id="updates"
        data-count="0" data-first-frames="">0</span> updates received.</p></footer>
        <script>
        'use strict';
        const parameters = new URLSearchParams(location.search), token = parameters.get('token');
        // ?updates=N: stop listening after N updates (a snapshot, for scripts and screenshots).
        const stopAfter = parseInt(parameters.get('updates') || '0', 10);
        const q = token ? '?token=' + encodeURIComponent(token) : '';
        const ns = 'http://www.w3.org/2000/svg';
        const $ = id => document.getElementById(id);
        const regions = [], points = [];
        let updates = 0, shownFrame = null, follow = true, box = null, doses = [Infinity, -Infinity], colouredRange = null;
        const viridis = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];
        function colour(dose) {
          if (!(dose > 0) || !(doses[1] > doses[0])) return 'rgb(33,145,140)';
          let t = (Math.log(dose) - Math.log(doses[0])) / (Math.log(doses[1]) - Math.log(doses[0]));
          t = Math.min(Math.max(t, 0), 1) * 4; const i = Math.min(Math.floor(t), 3), f = t - i;
          const c = viridis[i].map((a, k) => Math.round(a + (viridis[i + 1][k] - a) * f));
          return 'rgb(' + c.join(',') + ')';
        }
        const community = id => 'hsl(' + ((id * 137) % 360) + ',70%,50%)';
        function el(name, attributes) {
          const e = document.createElementNS(ns, name);
          for (const k in attributes) e.setAttribute(k, attributes[k]);
          return e;
        }
        function status(s) {
          $('phase').textContent = s.phase; $('phase').className = s.phase;
          $('session').textContent = s.session || '';
          for (const k of ['frames', 'analysed', 'decisions', 'defects', 'communities', 'retrains']) $(k).textContent = s[k];
          $('drift').textContent = s.drift_nm_per_s ? s.drift_nm_per_s.map(v => v.toFixed(3)).join(', ') : '-';
          $('latency').textContent = s.latency_p50_ms != null ? s.latency_p50_ms.toFixed(0) : '-';
          $('ending').textContent = s.ending ? 'Ended: ' + s.ending : '';
          const u = $('updates'); if (u.dataset.firstFrames === '') u.dataset.firstFrames = s.frames;
        }
        function addRegions(items) {
          const g = $('regions');
          for (const [frame, seq, x, y, fx, fy, dose] of items) {
            if (dose > 0) { doses[0] = Math.min(doses[0], dose); doses[1] = Math.max(doses[1], dose); }
            const r = el('rect', {class: 'region', x: x - fx / 2, y: -y - fy / 2, width: fx, height: fy});
            r.dataset.dose = dose == null ? '' : dose;
            r.appendChild(el('title', {})).textContent = 'frame ' + seq + ': ' + fx.toFixed(1) + ' nm' +
              (dose > 0 ? ', ' + dose.toPrecision(3) + ' e/Å²' : '');
            g.appendChild(r); regions.push([x, y, fx, fy]); points.push(x + ',' + (-y));
          }
          if (!items.length) return;
          const range = doses.join(' ');
          for (const r of (range === colouredRange ? [...g.children].slice(-items.length) : g.children))
            r.setAttribute('fill', colour(parseFloat(r.dataset.dose)));
          colouredRange = range;
          for (const r of g.querySelectorAll('.newest')) r.classList.remove('newest');
          g.lastChild.classList.add('newest');
          $('order').setAttribute('points', points.join(' '));
          if (follow) fit();
        }
        function addMarks(items) {
          const g = $('marks'), side = box ? Math.max(box[2], box[3]) : 10;
          for (const [x, y] of items) g.appendChild(el('circle', {class: 'mark', cx: x, cy: -y, r: Math.max(side / 400, 0.03)}));
        }
        function fit() {
          let [a, b, c, d] = [Infinity, Infinity, -Infinity, -Infinity];
          for (const [x, y, fx, fy] of regions) {
            a = Math.min(a, x - fx / 2); c = Math.max(c, x + fx / 2); b = Math.min(b, -y - fy / 2); d = Math.max(d, -y + fy / 2);
          }
          const m = Math.max(c - a, d - b) * 0.05 + 1;
          box = [a - m, b - m, c - a + 2 * m, d - b + 2 * m]; $('map').setAttribute('viewBox', box.join(' '));
        }
        function frame(f) {
          if (!f) return;
          const key = f.id + ':' + f.analysed;
          if (key === shownFrame) return; shownFrame = key;
          $('frame-image').src = 'frame/' + f.id + q;
          const svg = $('frame-overlay'); svg.setAttribute('viewBox', '0 0 ' + Math.max(f.width, 1) + ' ' + Math.max(f.height, 1));
          svg.replaceChildren();
          if (f.grid) for (const [chip, id] of f.communities) {
            const g = f.grid, col = chip % g.columns, row = Math.floor(chip / g.columns);
            svg.appendChild(el('rect', {x: g.origin_x_px + col * g.stride_px, y: g.origin_y_px + row * g.stride_px,
              width: g.chip_px, height: g.chip_px, fill: community(id), 'fill-opacity': 0.18, stroke: community(id),
              'stroke-opacity': 0.6, 'vector-effect': 'non-scaling-stroke'}));
          }
          for (const [x, y, type] of f.detections)
            svg.appendChild(el('circle', {cx: x, cy: y, r: Math.max(f.width, 1) / 70})).appendChild(el('title', {})).textContent = type;
          $('frame-caption').textContent = 'frame ' + f.seq + ' · ' + f.fov_nm.toFixed(1) + ' nm' +
            (f.dose_e_per_A2 ? ' · ' + f.dose_e_per_A2.toPrecision(3) + ' e/Å²' : '') +
            (f.analysed ? ' · ' + f.detections.length + ' defects · ' + new Set(f.communities.map(c => c[1])).size +
              ' communities' + (f.model ? ' · model ' + f.model : '') : ' · waiting for analysis');
        }
        function decisions(list) {
          const body = $('timeline').tBodies[0]; body.replaceChildren();
          for (const d of list) {
            const tr = body.insertRow();
            const outcome = d.refused ? 'refused' : (d.status || (d.action === 'none' ? '' : 'not sent')) + (d.error ? ': ' + d.error : '');
            if (d.refused || d.error || (d.status && !['done', 'sent', 'acked'].includes(d.status))) tr.className = 'trouble';
            const time = new Date(d.time * 1000).toLocaleTimeString();
            for (const text of [time, d.action, d.summary, d.reason.length > 200 ? d.reason.slice(0, 200) + '…' : d.reason, outcome])
              tr.insertCell().textContent = text;
          }
        }
        const source = new EventSource('events' + q);
        source.onopen = () => { $('connection').textContent = 'live'; };
        source.onmessage = event => {
          const m = JSON.parse(event.data);
          updates += 1; const u = $('updates'); u.textContent = updates; u.dataset.count = updates;
          if (m.status) status(m.status);
          addRegions(m.regions.items); addMarks(m.marks.items); frame(m.frame); decisions(m.decisions);
          if (m.closed) { source.close(); $('connection').textContent = 'the session is over; its log has everything'; }
          else if (stopAfter > 0 && updates >= stopAfter) { source.close(); $('connection').textContent = 'snapshot'; }
        };
        source.onerror = () => { if (source.readyState !== 2) $('connection').textContent = 'reconnecting…'; };
        const map = $('map'); let drag = null;
        map.addEventListener('wheel', e => { if (!box) return; e.preventDefault(); follow = false;
          const r = map.getBoundingClientRect(), fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height;
          const k = e.deltaY < 0 ? 0.8 : 1.25, w = box[2] * k, h = box[3] * k;
          box = [box[0] + (box[2] - w) * fx, box[1] + (box[3] - h) * fy, w, h]; map.setAttribute('viewBox', box.join(' ')); });
        map.addEventListener('mousedown', e => { drag = [e.clientX, e.clientY]; });
        window.addEventListener('mouseup', () => { drag = null; });
        map.addEventListener('mousemove', e => { if (!drag || !box) return; follow = false; const r = map.getBoundingClientRect();
          box[0] -= (e.clientX - drag[0]) / r.width * box[2]; box[1] -= (e.clientY - drag[1]) / r.height * box[3];
          drag = [e.clientX, e.clientY]; map.setAttribute('viewBox', box.join(' ')); });
        map.addEventListener('dblclick', () => { follow = true; fit(); });
        </script>
        </body></html>
        """
}
