// korrel8's investigation graph: reads the result JSON embedded in the page, draws it
// with cytoscape.js, and shows an object's or edge's details in the side panel.
// Everything from the data is written with textContent: names are never parsed as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("korrel8-data").textContent);
  var colours = JSON.parse(document.getElementById("korrel8-colours").textContent);
  var other = colours["*"];

  function colour(domain) { return colours[domain] || other; }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // Summary: the start, the goals, the window, objects per class.
  var facts = document.getElementById("facts");
  facts.appendChild(el("span", "start: " + data.start.query));
  if (data.goals.length) facts.appendChild(el("span", "goals: " + data.goals.join(", ")));
  if (data.depth !== null) facts.appendChild(el("span", "depth: " + data.depth));
  facts.appendChild(el("span", "window: " + data.window.since + " → " + data.window.until));
  if (data.truncated) facts.appendChild(el("span", "truncated: more objects than the limit"));
  var legend = document.getElementById("legend");
  Object.keys(data.counts).forEach(function (cls) {
    var item = el("span");
    var swatch = el("i");
    swatch.style.background = colour(cls.split(":")[0]);
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(cls + " (" + data.counts[cls] + ")"));
    legend.appendChild(item);
  });

  var objects = {};
  // korrel8r's statuses, computed at ingest: Error (or an alert's critical) draws the
  // object red, Warning orange; every status shows as a badge line under the name.
  function health(statuses) {
    var lowered = (statuses || []).map(function (s) { return s.toLowerCase(); });
    if (lowered.indexOf("error") >= 0 || lowered.indexOf("critical") >= 0) { return "error"; }
    if (lowered.indexOf("warning") >= 0) { return "warning"; }
    return "";
  }
  var elements = [];
  data.objects.forEach(function (o) {
    objects[o.ref] = o;
    var badge = (o.statuses || []).length ? "\n[" + o.statuses.join(" ") + "]" : "";
    elements.push({
      group: "nodes",
      data: {
        id: o.ref,
        label: o.class + "\n" + (o.name || o.ref) + badge,
        health: health(o.statuses),
        colour: colour(o.domain),
        start: o.start,
        goal: o.goal,
        deleted: o.deleted_at !== null
      }
    });
  });
  data.links.forEach(function (l, i) {
    elements.push({
      group: "edges",
      data: { id: "e" + i, source: l.start, target: l.goal, label: l.rule, link: i, closed: l.valid_to !== null }
    });
  });

  var cy = cytoscape({
    container: document.getElementById("graph"),
    elements: elements,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
          "shape": "round-rectangle", "background-color": "data(colour)", "label": "data(label)",
          "color": "#fff", "text-wrap": "wrap", "text-max-width": "150px", "font-size": "10px",
          "text-valign": "center", "text-halign": "center", "width": "160px", "height": "42px",
          "border-width": 1, "border-color": "#ffffff" } },
      { selector: "node[?goal]", style: { "border-width": 4, "border-style": "double", "border-color": "#111" } },
      { selector: "node[?start]", style: { "border-width": 5, "border-color": "#f5c400", "underlay-color": "#f5c400", "underlay-opacity": 0.35, "underlay-padding": 6 } },
      { selector: "node[?deleted]", style: { "background-opacity": 0.55, "border-style": "dashed", "border-width": 2, "border-color": "#111" } },
      { selector: "node[health = 'error']", style: { "underlay-color": "#cf222e", "underlay-opacity": 0.6, "underlay-padding": 5 } },
      { selector: "node[health = 'warning']", style: { "underlay-color": "#d4a72c", "underlay-opacity": 0.6, "underlay-padding": 5 } },
      { selector: "edge", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
          "line-color": "#8c959f", "target-arrow-color": "#8c959f", "label": "data(label)",
          "font-size": "9px", "text-rotation": "autorotate", "text-background-color": "#fff",
          "text-background-opacity": 1, "text-background-padding": "1px" } },
      { selector: "edge[?closed]", style: { "line-style": "dashed" } },
      { selector: ":selected", style: { "overlay-color": "#0969da", "overlay-opacity": 0.25 } }
    ]
  });

  // Layers from the starts, so that a path reads from the start to its goal.
  var roots = cy.nodes("[?start]");
  var layout = roots.length
    ? {
        name: "breadthfirst", roots: roots, directed: false, spacingFactor: 1.1, animate: false,
        padding: 20,
        // Left to right, as the paths read: breadthfirst lays levels top-down.
        // Levels then sit closer than the 160px-wide nodes: stretch them apart.
        transform: function (node, pos) { return { x: pos.y * 1.9, y: pos.x }; }
      }
    : { name: "grid", animate: false, padding: 20 };
  cy.layout(layout).run();
  cy.fit(undefined, 20);
  if (cy.zoom() > 1.6) { cy.zoom(1.6); cy.center(); }

  var panel = document.getElementById("panel");
  function row(table, key, value) {
    if (value === null || value === undefined || value === "") return;
    var tr = el("tr");
    tr.appendChild(el("td", key));
    tr.appendChild(el("td", value));
    table.appendChild(tr);
  }
  function copyable(text) {
    var box = el("div");
    box.appendChild(el("pre", text));
    var button = el("button", "copy");
    button.addEventListener("click", function () {
      if (navigator.clipboard) navigator.clipboard.writeText(text);
    });
    box.appendChild(button);
    return box;
  }
  function showObject(o) {
    panel.textContent = "";
    var title = el("h2");
    var tag = el("span", o.domain, "tag");
    tag.style.background = colour(o.domain);
    title.appendChild(tag);
    title.appendChild(document.createTextNode(" " + o.class + " " + (o.name || "")));
    panel.appendChild(title);
    var t = el("table");
    row(t, "namespace", o.namespace);
    row(t, "cluster", o.cluster);
    row(t, "role", o.start ? "start" : (o.goal ? "goal" : ""));
    row(t, "status", (o.statuses || []).join(" "));
    row(t, "first seen", o.first_seen);
    row(t, "last seen", o.last_seen);
    row(t, "deleted at", o.deleted_at);
    panel.appendChild(t);
    if (o.data) {
      panel.appendChild(el("h3", "Data query (" + o.data.language + ")"));
      panel.appendChild(copyable(o.data.query));
    }
    panel.appendChild(el("h3", "korrel8r query (ref)"));
    panel.appendChild(copyable(o.query));
    var props = Object.keys(o.properties);
    if (props.length) {
      panel.appendChild(el("h3", "Labels and properties"));
      var p = el("table");
      props.forEach(function (k) {
        var v = o.properties[k];
        row(p, k, Array.isArray(v) ? v.join("\n") : (typeof v === "object" ? JSON.stringify(v) : v));
      });
      panel.appendChild(p);
    }
  }
  function showLink(l) {
    panel.textContent = "";
    panel.appendChild(el("h2", l.type + " (rule " + l.rule + ")"));
    var t = el("table");
    row(t, "from", l.start);
    row(t, "to", l.goal);
    row(t, "first seen", l.first_seen);
    row(t, "last seen", l.last_seen);
    row(t, "valid to", l.valid_to);
    panel.appendChild(t);
  }
  cy.on("tap", "node", function (evt) { showObject(objects[evt.target.id()]); });
  cy.on("tap", "edge", function (evt) { showLink(data.links[evt.target.data("link")]); });
  var first = roots.length ? roots[0] : cy.nodes()[0];
  if (first) showObject(objects[first.id()]);

  // What the page drew, in the DOM: a test (or a curious user) reads it back.
  function report() {
    var box = { x1: 0, y1: 0, x2: cy.width(), y2: cy.height() };
    var rendered = cy.nodes().filter(function (n) {
      var b = n.renderedBoundingBox();
      return b.x2 > box.x1 && b.x1 < box.x2 && b.y2 > box.y1 && b.y1 < box.y2 && b.w > 0;
    }).length;
    var status = document.getElementById("korrel8-status");
    status.dataset.nodes = String(cy.nodes().length);
    status.dataset.edges = String(cy.edges().length);
    status.dataset.rendered = String(rendered);
    // What the page marked, for a test to read (<body data-status-errors=...>).
    document.body.dataset.statusErrors = String(cy.nodes("[health = 'error']").length);
    document.body.dataset.statusWarnings = String(cy.nodes("[health = 'warning']").length);
    status.textContent = cy.nodes().length + " objects, " + cy.edges().length + " rule edges";
    document.body.dataset.ready = "true";
  }
  report();
  cy.on("resize", report);
})();
