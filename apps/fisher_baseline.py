#!/usr/bin/env python3
"""Fisher vectors (Perronnin et al. 2010) against LeNet-5 and pretrained CNN features on the same split;
see kerasnets/cli/fisher_baseline.py or --help."""

from kerasnets.cli.fisher_baseline import main

raise SystemExit(main())
