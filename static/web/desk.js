// The desk's only script: line numbers beside the policy editor. Everything works without it.
(function () {
  "use strict";
  var doc = document.getElementById("policy-doc");
  var gutter = document.getElementById("gutter");
  if (!doc || !gutter) return;
  var bad = (gutter.getAttribute("data-bad-lines") || "").split(",").filter(Boolean).map(Number);

  function number() {
    var count = doc.value.split("\n").length;
    if (gutter.childElementCount === count) return;
    var html = [];
    for (var n = 1; n <= count; n++) {
      html.push(bad.indexOf(n) >= 0 ? '<span class="bad">' + n + "</span>" : "<span>" + n + "</span>");
    }
    gutter.innerHTML = html.join("");
  }

  function goTo(line) {
    var lines = doc.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    doc.focus();
    doc.setSelectionRange(start, start + (lines[line - 1] || "").length);
    var lineHeight = parseFloat(getComputedStyle(doc).lineHeight) || 19.5;
    doc.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  doc.addEventListener("input", number);
  doc.addEventListener("scroll", function () { gutter.scrollTop = doc.scrollTop; });
  document.querySelectorAll("[data-line]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      goTo(Number(link.getAttribute("data-line")));
    });
  });
  number();
  if (bad.length) goTo(bad[0]);
})();
