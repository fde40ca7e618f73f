{% raw %}
(function () {
  "use strict";
  var table = document.getElementById("quarantine-sample");
  if (!table) { return; }
  var body = table.tBodies[0];
  var select = document.getElementById("check-filter");
  var search = document.getElementById("quarantine-search");
  var shown = document.getElementById("sample-shown");
  var rows = Array.prototype.slice.call(body.rows);

  function apply() {
    var check = select ? select.value : "";
    var text = search ? search.value.toLowerCase() : "";
    var count = 0;
    rows.forEach(function (row) {
      var keep = (!check || row.getAttribute("data-check") === check) &&
        (!text || row.textContent.toLowerCase().indexOf(text) !== -1);
      if (keep) { row.removeAttribute("hidden"); count += 1; } else { row.setAttribute("hidden", ""); }
    });
    if (shown) { shown.textContent = count + " of " + rows.length + " shown"; }
  }

  function cell(row, field) {
    var td = row.querySelector('td[data-field="' + field + '"]');
    return td ? td.textContent : "";
  }

  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) { return x - y; }
    return a.localeCompare(b, undefined, { numeric: true });
  }

  Array.prototype.forEach.call(table.querySelectorAll("th[data-sort]"), function (th) {
    th.setAttribute("tabindex", "0");
    th.title = "sort by " + th.getAttribute("data-sort");
    function sort() {
      var field = th.getAttribute("data-sort");
      var descending = th.getAttribute("aria-sort") === "ascending";
      Array.prototype.forEach.call(table.querySelectorAll("th[data-sort]"), function (other) {
        other.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      rows.sort(function (r1, r2) {
        var d = compare(cell(r1, field), cell(r2, field));
        return descending ? -d : d;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });
  if (select) { select.addEventListener("change", apply); }
  if (search) { search.addEventListener("input", apply); }
  document.documentElement.classList.add("js");
  apply();
}());
{% endraw %}
