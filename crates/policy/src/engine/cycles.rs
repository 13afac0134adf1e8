//! Would-be cycles, for the admin API to refuse a change before writing it.

use std::collections::VecDeque;

use uuid::Uuid;

use super::{CompiledRealm, NO_PARENT};

impl CompiledRealm {
    pub(crate) fn inclusion_cycle(&self, role: Uuid, included: Uuid) -> Option<Vec<String>> {
        let from = *self.role_ids.get(&role)?;
        let to = *self.role_ids.get(&included)?;
        let name = |r: u32| {
            self.roles
                .get(r as usize)
                .map_or_else(String::new, |r| r.name.clone())
        };
        if from == to {
            return Some(vec![name(from), name(from)]);
        }
        // Is `role` reachable from `included`? Breadth-first, shortest path.
        let mut prev = vec![u32::MAX; self.role_nodes.len()];
        let mut queue = VecDeque::from([to]);
        if let Some(p) = prev.get_mut(to as usize) {
            *p = to;
        }
        while let Some(r) = queue.pop_front() {
            if r == from {
                let mut chain = vec![r];
                let mut cur = r;
                while cur != to {
                    cur = prev.get(cur as usize).copied().unwrap_or(to);
                    chain.push(cur);
                }
                chain.push(from);
                chain.reverse();
                // chain: from, to, ..., from
                return Some(chain.into_iter().map(name).collect());
            }
            let Some(node) = self.role_nodes.get(r as usize) else {
                continue;
            };
            for &inc in node.includes.iter() {
                if let Some(p) = prev.get_mut(inc as usize)
                    && *p == u32::MAX
                {
                    *p = r;
                    queue.push_back(inc);
                }
            }
        }
        None
    }

    pub(crate) fn parent_cycle(&self, group: Uuid, parent: Uuid) -> Option<Vec<String>> {
        let child = *self.group_ids.get(&group)?;
        let mut g = *self.group_ids.get(&parent)?;
        let name = |g: u32| {
            self.groups
                .get(g as usize)
                .map_or_else(String::new, |g| g.name.clone())
        };
        let mut chain = vec![name(child)];
        // Walk up from the would-be parent; the compiled realm is acyclic so
        // this ends.
        while g != NO_PARENT {
            chain.push(name(g));
            if g == child {
                return Some(chain);
            }
            g = self
                .group_nodes
                .get(g as usize)
                .map_or(NO_PARENT, |n| n.parent);
        }
        None
    }
}
