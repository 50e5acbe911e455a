/* The map of the search and product pages (Leaflet): the basemap (offline world land, or the tile
   server the page names), the results' footprints linked to the list, and drawing the area of
   interest — a rectangle (drag) or a polygon (clicks; double-click or Enter finishes, Escape
   cancels) — written into the search form. The form works without this script. */
(function () {
  "use strict";
  var AOI_STYLE = { color: "#c64600", weight: 2, fillOpacity: 0.08 };
  var FOOTPRINT = { color: "#1a5fb4", weight: 2, fillOpacity: 0.15 };
  var HIGHLIGHT = { color: "#a51d2d", weight: 4, fillOpacity: 0.35 };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function basemapFailed(map, text) {
    /* Without the world map the footprints and drawing still work; a short note says what is missing
       (as text: Leaflet's attribution would take it as HTML). */
    var note = L.control({ position: "bottomleft" });
    note.onAdd = function () {
      var p = L.DomUtil.create("p", "leaflet-control-attribution map-note");
      p.id = "basemap-note";
      p.textContent = text || "";
      return p;
    };
    note.addTo(map);
  }

  function makeMap(node) {
    var map = L.map(node, { worldCopyJump: true, minZoom: 1 }).setView([20, 0], 1);
    if (node.dataset.tiles) {
      L.tileLayer(node.dataset.tiles, { attribution: node.dataset.attribution || "", maxZoom: 18 }).addTo(map);
    } else {
      fetch(node.dataset.basemap).then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.json();
      }).then(function (land) {
        L.geoJSON(land, { interactive: false, style: { color: "#9aa5b4", weight: 1, fillColor: "#f4f1e8", fillOpacity: 1 } })
          .addTo(map).bringToBack();
      }).catch(function () { basemapFailed(map, node.dataset.basemapFailed); });
    }
    return map;
  }

  /* -- the product page: its footprint ------------------------------------------------------- */
  function productPage(node) {
    var map = makeMap(node);
    var feature = readJson("product-data");
    if (feature && feature.geometry) {
      var layer = L.geoJSON(feature, { style: FOOTPRINT }).addTo(map);
      map.fitBounds(layer.getBounds(), { maxZoom: 10, padding: [20, 20] });
    }
  }

  /* -- the search page ----------------------------------------------------------------------- */
  function field(name) { return document.getElementById("f-" + name); }
  var BOUNDS = ["west", "south", "east", "north"];

  function round(value) { return Math.round(value * 10000) / 10000; }

  function searchPage(node) {
    var map = makeMap(node);
    var form = document.getElementById("search-form");
    var note = document.getElementById("polygon-note");
    var aoi = null;
    document.getElementById("map-help").hidden = false;

    function showAoi(layer) {
      if (aoi) { map.removeLayer(aoi); }
      aoi = layer;
      if (aoi) { aoi.addTo(map); }
    }

    function aoiFromForm() {
      var values = BOUNDS.map(function (name) { return parseFloat(field(name).value); });
      if (values.every(function (v) { return !isNaN(v); })) {
        showAoi(L.rectangle([[values[1], values[0]], [values[3], values[2]]], AOI_STYLE));
        return;
      }
      var drawn = field("intersects").value;
      if (drawn) {
        try { showAoi(L.geoJSON(JSON.parse(drawn), { style: AOI_STYLE })); } catch (e) { showAoi(null); }
      } else {
        showAoi(null);
      }
    }

    function setBbox(bounds) {
      field("west").value = round(bounds.getWest());
      field("south").value = round(bounds.getSouth());
      field("east").value = round(bounds.getEast());
      field("north").value = round(bounds.getNorth());
      field("intersects").value = "";
      note.hidden = true;
      aoiFromForm();
    }

    function setPolygon(points) {
      var ring = points.map(function (p) { return [round(p.lng), round(p.lat)]; });
      ring.push(ring[0]);
      field("intersects").value = JSON.stringify({ type: "Polygon", coordinates: [ring] });
      BOUNDS.forEach(function (name) { field(name).value = ""; });
      note.hidden = false;
      aoiFromForm();
    }

    BOUNDS.forEach(function (name) { field(name).addEventListener("change", aoiFromForm); });
    document.getElementById("clear-aoi").addEventListener("click", function () {
      field("intersects").value = "";
      note.hidden = true;
      aoiFromForm();
    });

    /* Footprints, each linked to its list item. */
    var results = readJson("search-data");
    var footprints = {};
    var group = L.featureGroup().addTo(map);
    if (results) {
      results.features.forEach(function (feature) {
        if (!feature.geometry) { return; }
        var layer = L.geoJSON(feature, { style: FOOTPRINT });
        layer.on("click", function () {
          var item = document.querySelector('#results li[data-product-id="' + feature.id + '"]');
          if (item) { item.scrollIntoView({ block: "nearest" }); item.focus(); }
        });
        layer.addTo(group);
        footprints[feature.id] = layer;
      });
    }
    document.querySelectorAll("#results li[data-product-id]").forEach(function (item) {
      var layer = footprints[item.dataset.productId];
      if (!layer) { return; }
      function on() { item.classList.add("highlight"); layer.setStyle(HIGHLIGHT); layer.bringToFront(); }
      function off() { item.classList.remove("highlight"); layer.setStyle(FOOTPRINT); }
      item.addEventListener("mouseenter", on);
      item.addEventListener("mouseleave", off);
      item.addEventListener("focusin", on);
      item.addEventListener("focusout", off);
    });

    aoiFromForm();
    if (aoi && aoi.getBounds().isValid()) {
      map.fitBounds(aoi.getBounds(), { padding: [20, 20], maxZoom: 10 });
    } else if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 10 });
    }

    /* Drawing tools: buttons above the map (keyboard users type the bounds in the form instead). */
    var tools = document.createElement("div");
    tools.className = "map-tools";
    var mode = null;
    function button(label, name) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.id = "draw-" + name;
      b.textContent = label;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () { setMode(mode === name ? null : name); });
      tools.appendChild(b);
      return b;
    }
    var rectangleButton = button(node.dataset.labelRectangle, "rectangle");
    var polygonButton = button(node.dataset.labelPolygon, "polygon");
    var status = document.createElement("p");
    status.className = "muted";
    status.setAttribute("role", "status");
    node.parentNode.insertBefore(tools, node);
    node.parentNode.insertBefore(status, node);

    var start = null, sketch = null, points = [];
    function clearSketch() {
      if (sketch) { map.removeLayer(sketch); }
      sketch = null; start = null; points = [];
    }
    function setMode(name) {
      clearSketch();
      mode = name;
      rectangleButton.setAttribute("aria-pressed", String(name === "rectangle"));
      polygonButton.setAttribute("aria-pressed", String(name === "polygon"));
      if (name) { map.dragging.disable(); map.doubleClickZoom.disable(); } else { map.dragging.enable(); map.doubleClickZoom.enable(); }
      node.classList.toggle("drawing", !!name);
      status.textContent = name === "polygon" ? node.dataset.labelDrawing : "";
    }

    map.on("mousedown", function (event) {
      if (mode !== "rectangle") { return; }
      start = event.latlng;
      sketch = L.rectangle(L.latLngBounds(start, start), AOI_STYLE).addTo(map);
    });
    map.on("mousemove", function (event) {
      if (mode === "rectangle" && start) {
        sketch.setBounds(L.latLngBounds(start, event.latlng));
      } else if (mode === "polygon" && points.length) {
        sketch.setLatLngs(points.concat([event.latlng]));
      }
    });
    map.on("mouseup", function (event) {
      if (mode !== "rectangle" || !start) { return; }
      var bounds = L.latLngBounds(start, event.latlng);
      clearSketch();
      if (bounds.getNorth() !== bounds.getSouth() && bounds.getEast() !== bounds.getWest()) {
        setBbox(bounds);
        setMode(null);
      }
    });
    function finishPolygon() {
      var corners = points.filter(function (p, i) { return i === 0 || !p.equals(points[i - 1]); });
      clearSketch();
      if (corners.length >= 3) { setPolygon(corners); setMode(null); }
    }
    map.on("click", function (event) {
      if (mode !== "polygon") { return; }
      points.push(event.latlng);
      if (!sketch) { sketch = L.polygon(points, AOI_STYLE).addTo(map); } else { sketch.setLatLngs(points); }
    });
    map.on("dblclick", function () { if (mode === "polygon") { finishPolygon(); } });
    document.addEventListener("keydown", function (event) {
      if (!mode) { return; }
      if (event.key === "Escape") { setMode(null); }
      else if (event.key === "Enter" && mode === "polygon") { event.preventDefault(); finishPolygon(); }
    });
    if (form) { form.addEventListener("submit", function () { setMode(null); }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof L === "undefined") { return; }
    var search = document.getElementById("search-map");
    var product = document.getElementById("product-map");
    if (search) { searchPage(search); }
    if (product) { productPage(product); }
  });
}());
