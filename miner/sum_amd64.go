package miner

func sumMidstate(mid *[8]uint32, h *Header, out *[32]byte) { sumGeneric(mid, h, out) }

func sumFull(h *Header, out *[32]byte) { *out = sumStd(h) }
