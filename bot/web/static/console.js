// tweetbot console: the two things the server-rendered pages cannot do on their own.
// 1. "Edit" opens the item's edit form in place (without this script it opens by a reload).
// 2. The review queue refreshes itself, never replacing an item whose edit is open.
// Plain JavaScript, no build step and no library.
"use strict";

(function () {
  function isEditing(item) {
    return item.querySelector(".edit-slot form") !== null;
  }

  function openEdit(item) {
    const slot = item.querySelector(".edit-slot");
    const template = item.querySelector("template.edit-form");
    if (!slot || !template || isEditing(item)) return;
    slot.appendChild(template.content.cloneNode(true));
    const area = slot.querySelector("textarea");
    if (area) {
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const item = button.closest("[data-post-id]");
    if (!item) return;
    if (button.dataset.action === "edit") {
      event.preventDefault();
      openEdit(item);
    } else if (button.dataset.action === "cancel") {
      event.preventDefault();
      item.querySelector(".edit-slot").replaceChildren();
    }
  });

  function merge(list, fresh) {
    const incoming = Array.from(fresh.querySelectorAll("#queue-items > [data-post-id]"));
    const ids = new Set(incoming.map((el) => el.dataset.postId));
    for (const item of Array.from(list.children)) {
      if (!ids.has(item.dataset.postId) && !isEditing(item)) item.remove();
    }
    let previous = null;
    for (const el of incoming) {
      const current = Array.from(list.children).find((c) => c.dataset.postId === el.dataset.postId);
      let placed = el;
      if (current && isEditing(current)) {
        placed = current; // the operator is typing here: leave it exactly as it is
      } else if (current) {
        if (current.outerHTML !== el.outerHTML) current.replaceWith(el);
        else placed = current;
      } else if (previous) {
        previous.after(el);
      } else {
        list.prepend(el);
      }
      previous = placed;
    }
    const empty = document.getElementById("queue-empty");
    if (empty) empty.hidden = list.children.length > 0;
  }

  function startRefresh(section) {
    const seconds = Number(section.dataset.refresh) || 5;
    const list = section.querySelector("#queue-items");
    async function refresh() {
      try {
        const response = await fetch("/queue?fragment=1", {
          headers: { Accept: "text/html" },
          credentials: "same-origin",
          redirect: "manual",
        });
        if (response.ok) {
          const doc = new DOMParser().parseFromString(await response.text(), "text/html");
          merge(list, doc);
        }
      } catch (error) {
        // The console may be restarting; try again at the next tick.
      }
      window.setTimeout(refresh, seconds * 1000);
    }
    window.setTimeout(refresh, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const section = document.getElementById("queue");
    if (section) startRefresh(section);
  });
})();
