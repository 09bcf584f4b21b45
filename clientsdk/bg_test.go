package clientsdk

import "testing"

func BenchmarkScoreNodesSmallIndex(b *testing.B) {
	old := benchBackground
	benchBackground = 0
	defer func() { benchBackground = old }()
	BenchmarkScoreNodes(b)
}
