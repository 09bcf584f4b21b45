// Package mrcplot draws miss-ratio curves (miss ratio against cache
// capacity on a log axis, one line per policy) as SVG or PNG with
// gonum.org/v1/plot.
//
// mrcplot imports nothing of this module.
package mrcplot
