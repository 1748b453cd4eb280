"""Projects: several datasets in one instance, each with its own faces, members, guidelines, active
suggester and labelling policy (policy: the settings it starts from; selectors: who sees which project;
services: create, change the policy, add members)."""
