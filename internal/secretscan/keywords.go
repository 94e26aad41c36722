package secretscan

// keywordIndex finds every occurrence of a set of keywords in one pass over
// the input, ignoring ASCII case: an Aho-Corasick automaton whose
// transitions are a dense table over the byte classes that occur in the
// keywords (every other byte is one class). It is immutable once built.
type keywordIndex struct {
	words   [][]byte  // lower-case keywords
	class   [256]byte // byte → class; 0 is "in no keyword"
	nclass  int
	next    []int32 // next[state*nclass+class] → state
	outputs [][]int // state → indexes of the words that end there
}

// newKeywordIndex builds the automaton for words, which must be lower-case
// and non-empty.
func newKeywordIndex(words [][]byte) *keywordIndex {
	k := &keywordIndex{words: words, nclass: 1}
	for _, w := range words {
		for _, c := range w {
			if k.class[c] == 0 {
				k.class[c] = byte(k.nclass)
				k.nclass++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		k.class[c] = k.class[c+'a'-'A']
	}
	// The trie; -1 is "no edge" until the failure links fill it in.
	k.addState()
	for wi, w := range words {
		s := int32(0)
		for _, c := range w {
			i := int(s)*k.nclass + int(k.class[c])
			if k.next[i] < 0 {
				k.next[i] = k.addState()
			}
			s = k.next[i]
		}
		k.outputs[s] = append(k.outputs[s], wi)
	}
	// Breadth-first, turn missing edges into the failure transitions and
	// merge each state's outputs with those of its failure state.
	fail := make([]int32, len(k.outputs))
	queue := make([]int32, 0, len(k.outputs))
	for c := range k.nclass {
		if t := k.next[c]; t < 0 {
			k.next[c] = 0
		} else {
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := range k.nclass {
			i := int(s)*k.nclass + c
			t := k.next[i]
			if t < 0 {
				k.next[i] = k.next[int(fail[s])*k.nclass+c]
				continue
			}
			fail[t] = k.next[int(fail[s])*k.nclass+c]
			k.outputs[t] = append(k.outputs[t], k.outputs[fail[t]]...)
			queue = append(queue, t)
		}
	}
	return k
}

func (k *keywordIndex) addState() int32 {
	for range k.nclass {
		k.next = append(k.next, -1)
	}
	k.outputs = append(k.outputs, nil)
	return int32(len(k.outputs) - 1)
}

// find calls hit with the index and start offset of every occurrence of
// every keyword in data, in order of their end offsets.
func (k *keywordIndex) find(data []byte, hit func(word, start int)) {
	s := int32(0)
	for i, c := range data {
		s = k.next[int(s)*k.nclass+int(k.class[c])]
		for _, w := range k.outputs[s] {
			hit(w, i+1-len(k.words[w]))
		}
	}
}
