// Package web is the daemon's status page: plain HTML, CSS and JavaScript embedded in
// the binary (no CDN, no build step), served on the API's listener. The overview is
// rendered on the server, so its numbers read without JavaScript; the script draws the
// charts as inline SVG, fills the other pages from the JSON API and keeps everything
// current from the Server-Sent Events stream (GET /v1/stream).
//
// Pages: / (overview), /orders (public view of orders, never a token), /order (an
// order for its token holder; the token stays in the browser tab's sessionStorage),
// /workers (Stratum sessions) and /blocks.
package web
