"""`cheiron migrate`: the cheiron resources that do what imps, kube-ecr, eatr or the patcher did."""
