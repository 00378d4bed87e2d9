package linearizability

import (
	"fmt"
	"slices"
	"strings"
)

// String describes the compare, e.g. "version(/k1) = 3".
func (c Compare) String() string {
	var t string
	switch c.Target {
	case TargetValue:
		return fmt.Sprintf("value(%s) %s %q", c.Key, c.Op, c.Value)
	case TargetVersion:
		t = "version"
	case TargetModRevision:
		t = "mod_rev"
	case TargetCreateRevision:
		t = "create_rev"
	default:
		t = fmt.Sprintf("target(%d)", uint8(c.Target))
	}
	return fmt.Sprintf("%s(%s) %s %d", t, c.Key, c.Op, c.Num)
}

// String is the operator's symbol.
func (o CmpOp) String() string {
	switch o {
	case CmpEqual:
		return "="
	case CmpNotEqual:
		return "!="
	case CmpLess:
		return "<"
	case CmpGreater:
		return ">"
	}
	return fmt.Sprintf("cmp(%d)", uint8(o))
}

func (t TxnOp) String() string {
	switch t.Kind {
	case KindPut:
		return fmt.Sprintf("put(%s, %s)", t.Key, t.Value)
	default:
		return fmt.Sprintf("%s(%s)", t.Kind, t.Key)
	}
}

// String describes the input, e.g. "put(/k1, v17)".
func (in Input) String() string {
	switch in.Kind {
	case KindPut:
		return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
	case KindGet, KindDelete:
		return fmt.Sprintf("%s(%s)", in.Kind, in.Key)
	case KindRange:
		return fmt.Sprintf("range(%s*)", in.Key)
	case KindTxn:
		cmps := make([]string, len(in.Compares))
		for i, c := range in.Compares {
			cmps[i] = c.String()
		}
		return fmt.Sprintf("txn(if %s then %s else %s)",
			strings.Join(cmps, " && "), joinOps(in.Then), joinOps(in.Else))
	}
	return in.Kind.String()
}

func joinOps(ops []TxnOp) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// String describes a KV as "key=value@mod".
func (kv KV) String() string {
	return fmt.Sprintf("%s=%s@%d", kv.Key, kv.Value, kv.ModRevision)
}

func describeKVs(kvs []KV) string {
	if len(kvs) == 0 {
		return "none"
	}
	s := make([]string, len(kvs))
	for i, kv := range kvs {
		s[i] = kv.String()
	}
	return strings.Join(s, ", ")
}

// describeOp renders an operation readably, e.g. "put(/k1, v17) -> rev 42".
func describeOp(in *Input, out *Output, unknown bool) string {
	if unknown {
		return in.String() + " -> ? (unknown outcome)"
	}
	var res string
	switch in.Kind {
	case KindPut:
		res = fmt.Sprintf("rev %d", out.Revision)
	case KindDelete:
		res = fmt.Sprintf("deleted %d, rev %d", out.Deleted, out.Revision)
	case KindGet, KindRange:
		res = fmt.Sprintf("%s @ rev %d", answerOf(out), out.Revision)
	case KindTxn:
		branch := "else"
		if out.Succeeded {
			branch = "then"
		}
		reads := make([]string, 0, len(out.TxnKVs))
		for _, kvs := range out.TxnKVs {
			if kvs != nil {
				reads = append(reads, "["+describeKVs(kvs)+"]")
			}
		}
		if out.DeletedKnown && branchDeletes(in, out.Succeeded) {
			branch += fmt.Sprintf(", deleted %d", out.Deleted)
		}
		res = fmt.Sprintf("%s, rev %d %s", branch, out.Revision, strings.Join(reads, " "))
	}
	return in.String() + " -> " + strings.TrimSpace(res)
}

// branchDeletes reports whether the branch a transaction took (then if
// succeeded) deletes a key.
func branchDeletes(in *Input, succeeded bool) bool {
	branch := in.Else
	if succeeded {
		branch = in.Then
	}
	return slices.ContainsFunc(branch, func(t TxnOp) bool { return t.Kind == KindDelete })
}

// Describe renders an operation readably, with its answer, e.g.
// "put(/k1, v17) -> rev 42" or "get(/k1) -> ? (unknown outcome)".
func Describe(op *Op) string {
	if op.Failed {
		return op.Input.String() + " -> refused: " + op.Output.Err
	}
	return describeOp(&op.Input, &op.Output, op.Unknown)
}

// Keys lists the keys an input reads, compares or writes, each once, in
// the order it names them; a Range gives its prefix followed by "*".
func Keys(in *Input) []string {
	switch in.Kind {
	case KindRange:
		return []string{in.Key + "*"}
	case KindTxn:
		var ks []string
		add := func(k string) {
			if !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
		for _, c := range in.Compares {
			add(c.Key)
		}
		for _, br := range [][]TxnOp{in.Then, in.Else} {
			for _, t := range br {
				add(t.Key)
			}
		}
		return ks
	}
	return []string{in.Key}
}

// Values lists the values an input may write (both branches of a Txn).
func Values(in *Input) []string {
	var vs []string
	for _, p := range putsOf(in) {
		vs = append(vs, p.value)
	}
	return vs
}
