// Package interop holds the test that the three backends are one lock
// service: a lock taken through any adapter is respected by the others. It
// is a module of its own so that no backend's module graph holds another
// backend's client.
package interop
